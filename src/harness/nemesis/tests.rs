use super::*;

fn ids(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("n{i}")).collect()
}

/// How many nodes `to` hears, itself included.
fn hears(g: &Grudge, n: usize, to: usize) -> usize {
    (0..n).filter(|&from| !g.cuts(from, to)).count()
}

#[test]
fn one_isolates_a_single_node() {
    let mut rng = fastrand::Rng::with_seed(1);
    for n in 3..9 {
        let g = grudge(Shape::One, n, &mut rng);
        let alone: Vec<usize> = (0..n).filter(|&i| hears(&g, n, i) == 1).collect();
        assert_eq!(alone.len(), 1, "n={n}");
        let loner = alone[0];
        for i in (0..n).filter(|&i| i != loner) {
            assert_eq!(hears(&g, n, i), n - 1);
            assert!(g.cuts(i, loner) && g.cuts(loner, i));
        }
    }
}

#[test]
fn majority_and_minority_third_are_clean_splits() {
    let mut rng = fastrand::Rng::with_seed(2);
    for n in 1..12 {
        for (shape, small) in [
            (Shape::Majority, n / 2),
            (Shape::MinorityThird, minority_third(n)),
        ] {
            let g = grudge(shape, n, &mut rng);
            let mut sizes: Vec<usize> = (0..n).map(|i| hears(&g, n, i)).collect();
            sizes.sort();
            let mut want: Vec<usize> = vec![small; small];
            want.extend(vec![n - small; n - small]);
            want.sort();
            if small == 0 {
                want = vec![n; n];
            }
            assert_eq!(sizes, want, "{shape} n={n}");
            for a in 0..n {
                for b in 0..n {
                    assert_eq!(g.cuts(a, b), g.cuts(b, a), "symmetric");
                }
            }
        }
    }
    assert_eq!(
        (minority_third(3), minority_third(4), minority_third(7)),
        (0, 1, 2)
    );
}

#[test]
fn majorities_ring_gives_each_node_its_own_majority() {
    let mut rng = fastrand::Rng::with_seed(3);
    for n in 3..12 {
        for _ in 0..20 {
            let g = grudge(Shape::MajoritiesRing, n, &mut rng);
            let mut views = std::collections::BTreeSet::new();
            for to in 0..n {
                assert!(
                    hears(&g, n, to) >= majority(n),
                    "n={n}: {}",
                    g.describe(&ids(n))
                );
                assert!(!g.cuts(to, to));
                views.insert(g.deaf_to(to));
            }
            if n == 5 {
                assert!(
                    (0..n).all(|to| hears(&g, n, to) == 3),
                    "ring of 5: exactly 3 each"
                );
                assert_eq!(views.len(), 5, "no two nodes see the same majority");
            }
            // Jepsen's ring of 3 has majorities of 2 centred off the middle: one-way cuts.
            for a in (n > 3).then_some(0..n).into_iter().flatten() {
                for b in 0..n {
                    assert_eq!(g.cuts(a, b), g.cuts(b, a), "links are cut both ways");
                }
            }
        }
    }
}

#[test]
fn describe_names_components_or_grudges() {
    let g = Grudge::complete(5, vec![vec![0, 3], vec![1, 2, 4]]);
    assert_eq!(g.describe(&ids(5)), "n0 n3 | n1 n2 n4");
    assert_eq!(Grudge::none(3).describe(&ids(3)), "no link cut");
    let mut rng = fastrand::Rng::with_seed(4);
    let ring = grudge(Shape::MajoritiesRing, 5, &mut rng);
    let text = ring.describe(&ids(5));
    assert_eq!(text.matches(" x ").count(), 5, "{text}");
}

#[test]
fn schedule_alternates_with_gaps_averaging_the_interval() {
    assert!(Schedule::new(MIN_INTERVAL - 1, vec![]).is_err());
    let interval = 1_000_000_000;
    let mut s = Schedule::new(interval, vec![Shape::Majority]).unwrap();
    let mut rng = fastrand::Rng::with_seed(5);
    assert_eq!(s.poll(0, 5, &mut rng), None, "not started");
    s.start(0);
    let mut times = Vec::new();
    let mut starts = 0;
    let mut now = 0;
    while times.len() < 2000 {
        now = s.next_at().unwrap();
        match s.poll(now, 5, &mut rng).expect("due") {
            Action::Start(shape, g) => {
                assert_eq!(shape, Shape::Majority);
                assert!(!g.is_empty());
                assert_eq!(times.len() % 2, 0, "starts come first, then stops");
                starts += 1;
            }
            Action::Stop => assert_eq!(times.len() % 2, 1),
        }
        times.push(now);
    }
    assert_eq!(times[0], 0, "the first partition starts at once");
    let mean = now as f64 / (times.len() - 1) as f64;
    assert!((0.9e9..1.1e9).contains(&mean), "mean gap {mean}");
    assert_eq!(starts, 1000);
    assert!(!s.is_active());
    s.poll(s.next_at().unwrap(), 5, &mut rng);
    assert!(s.is_active());
    assert_eq!(s.finish(), Some(Action::Stop));
    assert_eq!(s.finish(), None);
    assert_eq!(s.next_at(), None);
}

#[test]
fn every_shape_is_drawn() {
    let mut s = Schedule::new(MIN_INTERVAL, vec![]).unwrap();
    let mut rng = fastrand::Rng::with_seed(6);
    s.start(0);
    let mut seen = std::collections::BTreeSet::new();
    for _ in 0..200 {
        if let Some(Action::Start(shape, _)) = s.poll(s.next_at().unwrap(), 5, &mut rng) {
            seen.insert(shape);
        }
    }
    assert_eq!(seen.len(), 4);
}
