//! The engine, driven through sequences of points with the events each point must fire.

use std::collections::HashMap;

use super::*;

use Event::{Enter, Leave};

/// A point and the `(fence id, event)` pairs it must fire, in order.
type Step = ((f64, f64), i64, &'static [(i64, Event)]);

fn fence(id: i64, shape: Shape) -> Fence {
    Fence { id, name: format!("fence {id}"), shape }
}

/// A 300 m circle around (50, 5), and points at a distance north of its centre.
fn ring() -> Fence {
    fence(1, circle(50.0, 5.0, 300.0))
}

fn at(meters: f64) -> (f64, f64) {
    north(50.0, 5.0, meters)
}

fn rules(margin: f64, dwell: i64) -> Rules {
    Rules { margin, dwell }
}

/// Feeds the steps to a fresh state map, checking each step's events; when `restart` is set
/// the states go through JSON between points, as if the server restarted.
fn run(fences: &[Fence], rules: &Rules, steps: &[Step], restart: bool) -> HashMap<i64, FenceState> {
    let mut states = HashMap::new();
    for (index, &((lat, lon), tst, expected)) in steps.iter().enumerate() {
        if restart {
            let json = serde_json::to_string(&states).unwrap();
            states = serde_json::from_str(&json).unwrap();
        }
        let fired = evaluate(fences, &mut states, rules, lat, lon, tst);
        let got: Vec<(i64, Event)> = fired.iter().map(|t| (t.fence_id, t.event)).collect();
        assert_eq!(got, expected, "step {index} at tst {tst}");
        assert!(fired.iter().all(|t| t.tst == tst), "step {index}: {fired:?}");
    }
    states
}

#[test]
fn loadays_enter_reports_78_metres() {
    let (lat, lon, radius) = LOADAYS;
    let fences = [fence(7, circle(lat, lon, radius))];
    let mut states = HashMap::new();
    let far = evaluate(&fences, &mut states, &Rules::default(), 51.2, 4.39, 1414692000);
    assert_eq!(far, []);

    let fired = evaluate(&fences, &mut states, &Rules::default(), 51.17, 4.39, 1414692409);
    assert_eq!(fired.len(), 1);
    assert_eq!((fired[0].fence_id, fired[0].event, fired[0].tst), (7, Enter, 1414692409));
    assert_eq!(meters_whole(fired[0].meters), 78);
    assert_eq!(km_text(fired[0].meters), "0.08");
    assert_eq!(
        (Enter.as_str(), Enter.trigger(), Leave.as_str(), Leave.trigger()),
        ("enters", 1, "leaves", 0)
    );
}

#[test]
fn sequences_of_points() {
    let twin = [fence(1, circle(50.0, 5.0, 300.0)), fence(2, circle(50.001, 5.0, 300.0))];
    let b = at(1000.0);
    let apart = [fence(2, circle(50.0, 5.0, 200.0)), fence(1, circle(b.0, b.1, 200.0))];
    let no_margin = rules(0.0, 0);
    let cases: Vec<(&str, Vec<Fence>, Rules, Vec<Step>)> = vec![
        (
            "first point outside, then in and out",
            vec![ring()],
            Rules::default(),
            vec![
                (at(1000.0), 10, &[]),
                (at(100.0), 20, &[(1, Enter)]),
                (at(1000.0), 30, &[(1, Leave)]),
            ],
        ),
        (
            "first point inside sets the state silently",
            vec![ring()],
            Rules::default(),
            vec![(at(0.0), 10, &[]), (at(200.0), 20, &[]), (at(1000.0), 30, &[(1, Leave)])],
        ),
        (
            "overlapping fences both fire",
            twin.to_vec(),
            Rules::default(),
            vec![
                (at(-2000.0), 10, &[]),
                (at(50.0), 20, &[(1, Enter), (2, Enter)]),
                (at(-400.0), 30, &[(1, Leave), (2, Leave)]),
            ],
        ),
        (
            "overlap entered one fence at a time",
            twin.to_vec(),
            Rules::default(),
            vec![
                (at(-2000.0), 10, &[]),
                (at(-250.0), 20, &[(1, Enter)]),
                (at(50.0), 30, &[(2, Enter)]),
            ],
        ),
        (
            "straight from A into B: leave before enter",
            apart.to_vec(),
            Rules::default(),
            vec![
                (at(0.0), 10, &[]),
                (b, 20, &[(2, Leave), (1, Enter)]),
                (at(0.0), 30, &[(1, Leave), (2, Enter)]),
            ],
        ),
        (
            "drift of 10 m around the edge never flaps with a 25 m margin",
            vec![ring()],
            Rules::default(),
            vec![
                (at(1000.0), 10, &[]),
                (at(310.0), 20, &[]),
                (at(290.0), 30, &[(1, Enter)]),
                (at(310.0), 40, &[]),
                (at(290.0), 50, &[]),
                (at(310.0), 60, &[]),
                (at(324.0), 70, &[]),
                (at(290.0), 80, &[]),
                (at(326.0), 90, &[(1, Leave)]),
                (at(310.0), 100, &[]),
            ],
        ),
        (
            "the same drift flaps without a margin",
            vec![ring()],
            no_margin,
            vec![
                (at(1000.0), 10, &[]),
                (at(290.0), 20, &[(1, Enter)]),
                (at(310.0), 30, &[(1, Leave)]),
                (at(290.0), 40, &[(1, Enter)]),
                (at(300.0), 50, &[]),
            ],
        ),
        (
            "late and repeated points are ignored",
            vec![ring()],
            Rules::default(),
            vec![
                (at(1000.0), 100, &[]),
                (at(0.0), 90, &[]),
                (at(0.0), 100, &[]),
                (at(0.0), 101, &[(1, Enter)]),
            ],
        ),
        (
            "a negative margin counts as none",
            vec![ring()],
            rules(-50.0, -5),
            vec![
                (at(290.0), 10, &[]),
                (at(301.0), 20, &[(1, Leave)]),
                (at(280.0), 30, &[(1, Enter)]),
            ],
        ),
        (
            "a broken fence is skipped, the others are not",
            vec![fence(1, circle(50.0, 5.0, -5.0)), fence(2, circle(50.0, 5.0, 300.0))],
            Rules::default(),
            vec![(at(1000.0), 10, &[]), (at(0.0), 20, &[(2, Enter)])],
        ),
        (
            "of two fences with one id only the first counts",
            vec![fence(1, circle(50.0, 5.0, 300.0)), fence(1, circle(b.0, b.1, 300.0))],
            Rules::default(),
            vec![(b, 10, &[]), (at(0.0), 20, &[(1, Enter)]), (b, 30, &[(1, Leave)])],
        ),
    ];
    for (name, fences, rules, steps) in cases {
        for restart in [false, true] {
            let states = run(&fences, &rules, &steps, restart);
            assert!(!states.is_empty(), "{name}");
        }
    }
}

#[test]
fn dwell_holds_then_fires_and_a_point_back_cancels() {
    let dwell = rules(25.0, 60);
    let cases: Vec<(&str, Vec<Step>, FenceState)> = vec![
        (
            "enter fires once held for 60 s, at the confirming point",
            vec![
                (at(1000.0), 0, &[]),
                (at(200.0), 100, &[]),
                (at(200.0), 130, &[]),
                (at(250.0), 160, &[(1, Enter)]),
            ],
            FenceState { inside: true, since: 160, pending: None, last_tst: 160 },
        ),
        (
            "a point back outside cancels, the wait starts again",
            vec![
                (at(1000.0), 0, &[]),
                (at(200.0), 100, &[]),
                (at(1000.0), 120, &[]),
                (at(200.0), 150, &[]),
                (at(200.0), 200, &[]),
                (at(200.0), 210, &[(1, Enter)]),
            ],
            FenceState { inside: true, since: 210, pending: None, last_tst: 210 },
        ),
        (
            "a point in the margin band neither confirms nor cancels a leave",
            vec![
                (at(0.0), 0, &[]),
                (at(400.0), 100, &[]),
                (at(310.0), 130, &[]),
                (at(400.0), 160, &[(1, Leave)]),
            ],
            FenceState { inside: false, since: 160, pending: None, last_tst: 160 },
        ),
        (
            "a crossing still waiting is remembered",
            vec![(at(0.0), 0, &[]), (at(400.0), 100, &[]), (at(400.0), 159, &[])],
            FenceState { inside: true, since: 0, pending: Some(100), last_tst: 159 },
        ),
    ];
    for (name, steps, expected) in cases {
        for restart in [false, true] {
            let states = run(&[ring()], &dwell, &steps, restart);
            assert_eq!(states.get(&1), Some(&expected), "{name}");
        }
    }
}

#[test]
fn state_json_is_plain_fields() {
    let steps: [Step; 2] = [(at(0.0), 0, &[]), (at(400.0), 100, &[])];
    let states = run(&[ring()], &rules(25.0, 60), &steps, false);
    let json = serde_json::to_string(&states).unwrap();
    assert_eq!(json, r#"{"1":{"inside":true,"since":0,"pending":100,"last_tst":100}}"#);
    let back: HashMap<i64, FenceState> = serde_json::from_str(&json).unwrap();
    assert_eq!(back, states);
}

#[test]
fn rules_default_and_from_json() {
    assert_eq!(Rules::default(), rules(25.0, 0));
    assert_eq!(serde_json::from_str::<Rules>("{}").unwrap(), rules(25.0, 0));
    assert_eq!(serde_json::from_str::<Rules>(r#"{"dwell":30}"#).unwrap(), rules(25.0, 30));
}

#[test]
fn unusable_points_change_nothing() {
    let steps: [Step; 2] = [(at(1000.0), 10, &[]), (at(400.0), 20, &[])];
    let mut states = run(&[ring()], &rules(25.0, 60), &steps, false);
    let before = states.clone();
    let points = [(f64::NAN, 5.0), (50.0, f64::INFINITY), (90.5, 5.0), (50.0, -181.0)];
    for (lat, lon) in points {
        assert_eq!(evaluate(&[ring()], &mut states, &Rules::default(), lat, lon, 30), []);
        assert_eq!(states, before, "{lat} {lon}");
    }
}

#[test]
fn polygon_fence_with_margin() {
    let square = [fence(3, polygon(&SQUARE))];
    let steps: Vec<Step> = vec![
        (north(51.01, 4.005, 500.0), 10, &[]),
        (north(51.01, 4.005, 10.0), 20, &[]),
        ((51.005, 4.005), 30, &[(3, Enter)]),
        (north(51.01, 4.005, 10.0), 40, &[]),
        (east(51.005, 4.01, 24.0), 50, &[]),
        (east(51.005, 4.01, 26.0), 60, &[(3, Leave)]),
    ];
    run(&square, &Rules::default(), &steps, false);

    let mut states = HashMap::new();
    evaluate(&square, &mut states, &Rules::default(), 51.005, 4.005, 10);
    let (lat, lon) = east(51.005, 4.01, 40.0);
    let fired = evaluate(&square, &mut states, &Rules::default(), lat, lon, 20);
    assert_eq!(fired.len(), 1);
    assert_eq!((fired[0].event, mm(fired[0].meters)), (Leave, 40.0));
}
