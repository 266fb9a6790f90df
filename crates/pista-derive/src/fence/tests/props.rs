//! Randomised properties of the engine: it never panics, whatever the shapes, rules and points,
//! and for each fence the events it fires alternate, starting from the side first recorded.

use std::collections::HashMap;

use proptest::prelude::*;

use super::*;

/// Points around (50, 5), about 2 km either way, with some unusable ones mixed in.
fn point() -> impl Strategy<Value = (f64, f64)> {
    prop_oneof![
        8 => (49.98..50.02f64, 4.97..5.03f64),
        1 => (prop::num::f64::ANY, prop::num::f64::ANY),
    ]
}

/// Mostly increasing times, sometimes repeated or going backwards.
fn steps() -> impl Strategy<Value = Vec<((f64, f64), i64, bool)>> {
    prop::collection::vec((point(), -20..120i64, any::<bool>()), 1..60).prop_map(|raw| {
        let mut tst = 1_000;
        raw.into_iter()
            .map(|(p, dt, restart)| {
                tst += dt;
                (p, tst, restart)
            })
            .collect()
    })
}

fn fences() -> impl Strategy<Value = Vec<Fence>> {
    let circle = (49.99..50.01f64, 4.99..5.01f64, -100.0..3000.0f64)
        .prop_map(|(lat, lon, radius)| Shape::Circle { lat, lon, radius });
    let polygon = prop::collection::vec((49.99..50.01f64, 4.99..5.01f64), 0..8)
        .prop_map(|points| Shape::Polygon { points });
    prop::collection::vec(prop_oneof![circle, polygon], 1..5).prop_map(|shapes| {
        shapes
            .into_iter()
            .enumerate()
            .map(|(i, shape)| Fence { id: i as i64, name: String::new(), shape })
            .collect()
    })
}

fn rules() -> impl Strategy<Value = Rules> {
    (-10.0..60.0f64, -10..200i64).prop_map(|(margin, dwell)| Rules { margin, dwell })
}

/// Any float at all, or one in a range where coordinates and radii are often valid.
fn wild() -> impl Strategy<Value = f64> {
    prop_oneof![prop::num::f64::ANY, -200.0..200.0f64, 0.0..0.001f64]
}

proptest! {
    #[test]
    fn events_alternate_per_fence(fences in fences(), rules in rules(), steps in steps()) {
        let mut states: HashMap<i64, FenceState> = HashMap::new();
        for ((lat, lon), tst, restart) in steps {
            if restart {
                let json = serde_json::to_string(&states).unwrap();
                states = serde_json::from_str(&json).unwrap();
            }
            let before = states.clone();
            let fired = evaluate(&fences, &mut states, &rules, lat, lon, tst);
            for t in &fired {
                // An enter needs a recorded outside side, a leave a recorded inside one.
                let was_inside = before.get(&t.fence_id).map(|s| s.inside);
                prop_assert_eq!(was_inside, Some(t.event == Event::Leave), "{:?}", t);
                prop_assert_eq!(states[&t.fence_id].inside, t.event == Event::Enter);
                prop_assert_eq!(t.tst, tst);
            }
            let ids: Vec<i64> = fired.iter().map(|t| t.fence_id).collect();
            let mut unique = ids.clone();
            unique.sort_unstable();
            unique.dedup();
            prop_assert_eq!(ids.len(), unique.len());
        }
    }

    #[test]
    fn any_input_is_survived(
        shape in (wild(), wild(), wild()),
        points in prop::collection::vec((wild(), wild()), 0..5),
        point in (wild(), wild(), any::<i64>()),
        rules in (any::<f64>(), any::<i64>()),
    ) {
        let fences = [
            Fence { id: 1, name: String::new(), shape: circle(shape.0, shape.1, shape.2) },
            Fence { id: 2, name: String::new(), shape: Shape::Polygon { points } },
        ];
        let rules = Rules { margin: rules.0, dwell: rules.1 };
        let mut states = HashMap::new();
        let pending = Some(i64::MAX);
        states.insert(1, FenceState { inside: true, since: 0, pending, last_tst: i64::MIN });
        let (lat, lon, tst) = point;
        evaluate(&fences, &mut states, &rules, lat, lon, tst);
        evaluate(&fences, &mut states, &rules, lat, lon, tst.saturating_add(1));
        for fence in &fences {
            distance(&fence.shape, lat, lon);
            fence.object();
            fence.topic_hash("owntracks/a/b");
        }
    }
}
