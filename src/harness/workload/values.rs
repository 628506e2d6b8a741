//! Random JSON values for the workloads that pass values through (`batch_echo`, `proxy`,
//! `relay`, and `mixed`'s echoes).
//!
//! Strings with escapes and non-ASCII characters, integers, exact binary fractions, booleans,
//! null, small arrays and objects: a node that passes values through must pass them through
//! unchanged. Fractions are multiples of 1/8 so they survive any correct float parser bit for
//! bit, and integers stay well inside the range a JVM reads as a `long`.

use serde_json::{Map, Value};

/// Characters strings are drawn from: plain, JSON escapes, and multi-byte UTF-8.
const ALPHABET: &[char] = &[
    'a', 'b', 'c', 'x', 'y', 'z', '0', '7', ' ', '"', '\\', '/', '\n', '\t', '\u{1}', 'é', 'ß',
    '✓', '日', '🦀',
];

/// The deepest nesting of arrays and objects in a random value.
pub const MAX_DEPTH: u32 = 2;

/// A random JSON value; `depth` is the current nesting (start with 0).
pub fn random_value(rng: &mut fastrand::Rng, depth: u32) -> Value {
    let kinds = if depth >= MAX_DEPTH { 5 } else { 7 };
    match rng.u32(..kinds) {
        0 => Value::from(rng.i64(-1_000_000_000_000..1_000_000_000_000)),
        1 => Value::from(f64::from(rng.i32(-8000..8000)) / 8.0),
        2 => Value::Bool(rng.bool()),
        3 => Value::Null,
        4 => Value::String(
            (0..rng.usize(0..12))
                .map(|_| ALPHABET[rng.usize(..ALPHABET.len())])
                .collect(),
        ),
        5 => Value::Array(
            (0..rng.usize(0..4))
                .map(|_| random_value(rng, depth + 1))
                .collect(),
        ),
        _ => {
            let mut map = Map::new();
            for i in 0..rng.usize(0..4) {
                map.insert(format!("k{i}"), random_value(rng, depth + 1));
            }
            Value::Object(map)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_survive_a_round_trip() {
        let mut rng = fastrand::Rng::with_seed(3);
        for _ in 0..2000 {
            let v = random_value(&mut rng, 0);
            let text = serde_json::to_string(&v).unwrap();
            assert_eq!(serde_json::from_str::<Value>(&text).unwrap(), v, "{text}");
        }
    }

    #[test]
    fn every_kind_is_drawn() {
        let mut rng = fastrand::Rng::with_seed(5);
        let mut seen = [false; 6];
        for _ in 0..500 {
            let i = match random_value(&mut rng, 0) {
                Value::Number(_) => 0,
                Value::Bool(_) => 1,
                Value::Null => 2,
                Value::String(_) => 3,
                Value::Array(_) => 4,
                Value::Object(_) => 5,
            };
            seen[i] = true;
        }
        assert_eq!(seen, [true; 6]);
    }
}
