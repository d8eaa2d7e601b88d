//! The automatic mode's back-off (`growth.auto_retry = "backoff"`, docs/tiny.md §10): which
//! sites a check judges again.
//!
//! Judging a site costs a statistics pass, the decompositions and the line search. A site
//! whose step was refused is not judged again in the same check, and after r refusals in a
//! row it also sits out the next 2^(r−1) − 1 checks (at most [`MAX_REST`] − 1): at a site
//! whose bottleneck is exhausted the cost is otherwise spent on a refusal, over and over, while
//! another site keeps growing. A step that kept neurons clears the site's record. A site
//! narrower than the network's output rests for the rest of the check only, however often it
//! was refused: everything after it passes through it, so its refusals say that the narrow
//! network cannot judge its growth yet rather than that its bottleneck is exhausted (the
//! patience rule's reason, docs/tiny.md §10, "Rounds and patience").
//!
//! Tried and dropped: resting a site for the rest of the check also after it kept only part of
//! its proposal. It cut the judged steps of an MNIST automatic run from 95 to 43 but the network
//! stopped at 29 + 95 neurons instead of 104 + 159 and lost 1.2 points (docs/tiny.md §10).
//!
//! ```
//! use grownet::growth::backoff::Backoff;
//! let mut b = Backoff::default();
//! b.record(0, false, false); // site 0 refused: rests for the rest of this check
//! assert!(b.resting(0) && !b.resting(1));
//! b.next_check();
//! assert!(!b.resting(0)); // judged again at the next check
//! b.record(0, false, false); // second refusal in a row: sits out one whole check
//! b.next_check();
//! assert!(b.resting(0));
//! b.next_check();
//! assert!(!b.resting(0));
//! b.record(0, true, false); // the step kept neurons (all or some): the record is cleared
//! assert!(b.is_empty());
//! b.record(1, false, true); // narrower than the output: judged again at the next check
//! b.record(1, false, true);
//! b.next_check();
//! assert!(!b.resting(1));
//! ```
use serde::{Deserialize, Serialize};

/// Most checks (the current one included) a refused site rests.
pub const MAX_REST: u32 = 8;

/// One site's refusals in a row and the checks it still rests.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SiteRecord {
    pub site: usize,
    pub refusals: u32,
    /// Checks left to rest, the current one included (0: judged at the next chance).
    pub rest: u32,
}

/// Each refused site's record (kept in checkpoints with the grower's state).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Backoff(Vec<SiteRecord>);

impl Backoff {
    /// Whether `site` sits out this check.
    pub fn resting(&self, site: usize) -> bool {
        self.0.iter().any(|r| r.site == site && r.rest > 0)
    }

    /// Notes a judged step at `site`: whether it kept neurons, and whether the site is
    /// narrower than the network's output (it then rests for the rest of this check only).
    pub fn record(&mut self, site: usize, kept: bool, narrow: bool) {
        if kept {
            self.0.retain(|r| r.site != site);
            return;
        }
        let i = match self.0.iter().position(|r| r.site == site) {
            Some(i) => i,
            None => {
                self.0.push(SiteRecord {
                    site,
                    refusals: 0,
                    rest: 0,
                });
                self.0.len() - 1
            }
        };
        let r = &mut self.0[i];
        r.refusals += 1;
        r.rest = if narrow { 1 } else { rest_after(r.refusals) };
    }

    /// A new check begins: every resting site has one check fewer to rest.
    pub fn next_check(&mut self) {
        for r in &mut self.0 {
            r.rest = r.rest.saturating_sub(1);
        }
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// Checks to rest (the current one included) after `refusals` refusals in a row: 2^(r−1),
/// at most [`MAX_REST`].
fn rest_after(refusals: u32) -> u32 {
    1u32.checked_shl(refusals.saturating_sub(1))
        .unwrap_or(MAX_REST)
        .min(MAX_REST)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rest_doubles_with_each_refusal_up_to_the_cap() {
        let rests: Vec<u32> = (1..=40).map(rest_after).collect();
        assert_eq!(&rests[..5], &[1, 2, 4, 8, 8]);
        assert!(rests.iter().all(|&r| r == rests[0] || r <= MAX_REST));
    }

    /// Brute force: the checks at which a site refused every time is judged are 1, 2, 4, 8,
    /// 16, 24, … (rests of 1, 2, 4, 8, 8 checks after its refusals).
    #[test]
    fn a_site_refused_every_time_is_judged_ever_more_rarely() {
        let mut b = Backoff::default();
        let mut judged = Vec::new();
        for check in 1..=40 {
            if check > 1 {
                b.next_check();
            }
            if !b.resting(3) {
                judged.push(check);
                b.record(3, false, false);
            }
        }
        assert_eq!(judged, vec![1, 2, 4, 8, 16, 24, 32, 40]);
    }

    /// A site narrower than the output is judged at every check however often it was
    /// refused; once as wide, its next refusal rests it as its record says.
    #[test]
    fn a_site_narrower_than_the_output_rests_for_its_check_only() {
        let mut b = Backoff::default();
        for _ in 0..5 {
            b.record(4, false, true);
            assert!(b.resting(4));
            b.next_check();
            assert!(!b.resting(4));
        }
        b.record(4, false, false); // the sixth refusal in a row: the longest rest
        for _ in 0..MAX_REST - 1 {
            b.next_check();
            assert!(b.resting(4));
        }
        b.next_check();
        assert!(!b.resting(4));
    }

    #[test]
    fn a_kept_step_forgets_the_sites_refusals() {
        let mut b = Backoff::default();
        for _ in 0..3 {
            b.record(1, false, false);
        }
        b.record(1, true, false);
        assert!(!b.resting(1));
        b.record(1, false, false); // a first refusal again: rests this check only
        assert!(b.resting(1));
        b.next_check();
        assert!(!b.resting(1));
    }

    #[test]
    fn sites_are_independent_and_the_state_survives_serialisation() {
        let mut b = Backoff::default();
        b.record(0, false, false);
        b.record(0, false, false);
        b.record(2, false, false);
        b.record(1, true, false);
        assert!(b.resting(0) && b.resting(2) && !b.resting(1));
        let json = serde_json::to_string(&b).unwrap();
        assert_eq!(serde_json::from_str::<Backoff>(&json).unwrap(), b);
        b.next_check();
        assert!(b.resting(0) && !b.resting(2));
    }
}
