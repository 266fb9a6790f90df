//! The per-device, per-fence state machine. Each point falls into one of three zones of a
//! fence: inside (on or within the edge), the margin band (outside, but at most `margin` metres
//! beyond the edge) or outside (further away). A confirmed side changes only when points in the
//! opposite zone hold for `dwell` seconds; the band never changes anything, which is what keeps
//! a device parked near the edge from flapping between `enters` and `leaves`.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use super::geometry::{beyond_edge, distance};
use super::{Fence, Shape};

/// How eager the engine is to report a crossing.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Rules {
    /// Metres beyond the edge a point must be before a leave counts. Negative or non-finite
    /// values are treated as 0 (no hysteresis).
    pub margin: f64,
    /// Seconds the new side must hold before an enter or leave fires, measured from the first
    /// point on the new side to a later one still there. Negative values are treated as 0.
    pub dwell: i64,
}

impl Default for Rules {
    fn default() -> Self {
        Rules { margin: 25.0, dwell: 0 }
    }
}

/// What the engine remembers about one device and one fence between points. The caller
/// persists it (as JSON or as one column per field) and hands it back with the next point.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct FenceState {
    /// The confirmed side: true once the device entered, false once it left (or was first
    /// seen outside).
    pub inside: bool,
    /// `tst` of the last transition, or of the first point if there has been none.
    pub since: i64,
    /// `tst` of the first point of a crossing still waiting for its dwell time to pass.
    pub pending: Option<i64>,
    /// `tst` of the newest point evaluated against this fence; older or equal ones are ignored.
    pub last_tst: i64,
}

/// A change of side.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Event {
    Enter,
    Leave,
}

impl Event {
    /// The alert's `event` word: `enters` or `leaves`.
    pub fn as_str(self) -> &'static str {
        match self {
            Event::Enter => "enters",
            Event::Leave => "leaves",
        }
    }

    /// The alert's `trigger` value: 1 for an enter, 0 for a leave.
    pub fn trigger(self) -> u8 {
        match self {
            Event::Enter => 1,
            Event::Leave => 0,
        }
    }
}

/// One event for one fence, fired by the point that confirmed it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Transition {
    /// The fence's [`Fence::id`].
    pub fence_id: i64,
    /// Enter or leave.
    pub event: Event,
    /// `tst` of the confirming point (not of the first point of the crossing).
    pub tst: i64,
    /// [`distance`] from the confirming point to the fence, in metres.
    pub meters: f64,
}

/// Evaluates one point, the device's newest, against every fence, and updates `states` (fence
/// id to state, for this device only).
///
/// * A fence without a state has never been seen: the point only records which side the
///   device is on (the margin band counts as outside) and fires nothing. An alert says
///   something changed, and a fence created around a device, or a state store that was reset,
///   changes nothing about where it is.
/// * A point with `tst` at or before the state's `last_tst` is ignored for that fence, so a
///   late or replayed point never fires a stale event.
/// * Enter when the point is inside (a circle: distance to the centre at most the radius);
///   leave only when it is more than `rules.margin` metres beyond the edge; in between, nothing
///   changes and a pending crossing neither advances nor is cancelled.
/// * With `rules.dwell > 0` a crossing fires at the first later point still on the new side
///   once `dwell` seconds have passed since the first one; a point back on the confirmed side
///   cancels it.
///
/// Fences are independent: overlapping fences each fire, and a move from one straight into
/// another fires a leave and an enter in the same call. The result lists every leave before
/// every enter, each group by fence id. A point with a non-finite or out-of-range latitude or
/// longitude fires nothing and changes no state; a fence whose shape fails [`Shape::validate`]
/// is skipped the same way. Fence ids must be unique; of two fences with one id only the first
/// is evaluated. States of fences missing from `fences` are left as they are: dropping them is
/// the caller's business.
pub fn evaluate(
    fences: &[Fence],
    states: &mut HashMap<i64, FenceState>,
    rules: &Rules,
    lat: f64,
    lon: f64,
    tst: i64,
) -> Vec<Transition> {
    if !((-90.0..=90.0).contains(&lat) && (-180.0..=180.0).contains(&lon)) {
        return Vec::new();
    }

    let margin = if rules.margin.is_finite() { rules.margin.max(0.0) } else { 0.0 };
    let dwell = rules.dwell.max(0);
    let mut fired = Vec::new();
    for fence in fences {
        let Some((meters, zone)) = locate(&fence.shape, margin, lat, lon) else {
            continue;
        };
        if let Some(event) = advance(states, fence.id, zone, dwell, tst) {
            fired.push(Transition { fence_id: fence.id, event, tst, meters });
        }
    }

    fired.sort_by_key(|t| (t.event == Event::Enter, t.fence_id));
    fired
}

/// Where a point is relative to a fence, given the margin.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Zone {
    Inside,
    Band,
    Outside,
}

/// The distance reported for the point and its zone; `None` for an unusable shape.
fn locate(shape: &Shape, margin: f64, lat: f64, lon: f64) -> Option<(f64, Zone)> {
    if shape.validate().is_err() {
        return None;
    }
    let meters = distance(shape, lat, lon);
    let beyond = beyond_edge(shape, meters);
    if beyond.is_nan() {
        return None;
    }
    let zone = if beyond <= 0.0 {
        Zone::Inside
    } else if beyond > margin {
        Zone::Outside
    } else {
        Zone::Band
    };
    Some((meters, zone))
}

/// Moves one fence's state on by one point and returns the event it confirms, if any.
fn advance(
    states: &mut HashMap<i64, FenceState>,
    id: i64,
    zone: Zone,
    dwell: i64,
    tst: i64,
) -> Option<Event> {
    let Some(state) = states.get_mut(&id) else {
        let first =
            FenceState { inside: zone == Zone::Inside, since: tst, pending: None, last_tst: tst };
        states.insert(id, first);
        return None;
    };
    if tst <= state.last_tst {
        return None;
    }
    state.last_tst = tst;

    let crossing = match zone {
        Zone::Band => return None,
        Zone::Inside => !state.inside,
        Zone::Outside => state.inside,
    };
    if !crossing {
        state.pending = None;
        return None;
    }

    // A pending time after this point can only come from a state edited by hand; restart the
    // wait rather than let it run backwards.
    let first = state.pending.filter(|&p| p <= tst).unwrap_or(tst);
    state.pending = Some(first);
    if tst.saturating_sub(first) < dwell {
        return None;
    }
    state.inside = !state.inside;
    state.since = tst;
    state.pending = None;
    Some(if state.inside { Event::Enter } else { Event::Leave })
}
