//! The leader election, as a pure function; the rules are
//! docs/protocol.md section 9 (the leader election).
//!
//! While any tab is joined exactly one is the leader: at first the first tab
//! to join. It changes when the leader leaves, or when the leader is hidden
//! while another tab is visible; the new leader is the most recently active
//! visible tab, else the most recently active tab.

use crate::ids::TabId;

/// One tab as the election sees it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Candidate<'a> {
    pub(crate) tab: &'a TabId,
    pub(crate) visible: bool,
    /// Activity clock reading of its last join or event (larger = later).
    pub(crate) activity: u64,
}

/// The leader after a change, given the current one and the joined tabs.
pub(crate) fn elect(current: Option<&TabId>, candidates: &[Candidate<'_>]) -> Option<TabId> {
    let most_recent = |visible_only: bool| {
        candidates
            .iter()
            .filter(|c| c.visible || !visible_only)
            .max_by_key(|c| c.activity)
            .map(|c| c.tab.clone())
    };
    match current.and_then(|cur| candidates.iter().find(|c| c.tab == cur)) {
        None => most_recent(true).or_else(|| most_recent(false)),
        Some(leader) if !leader.visible && candidates.iter().any(|c| c.visible) => {
            most_recent(true)
        }
        Some(leader) => Some(leader.tab.clone()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tab(s: &str) -> TabId {
        TabId::parse(s).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn no_tabs_no_leader() {
        assert_eq!(elect(None, &[]), None);
        assert_eq!(elect(Some(&tab("a")), &[]), None);
    }

    #[test]
    fn the_first_tab_to_join_leads_even_when_hidden() {
        let a = tab("a");
        assert_eq!(
            elect(
                None,
                &[Candidate {
                    tab: &a,
                    visible: false,
                    activity: 1
                }]
            ),
            Some(a.clone())
        );
    }

    #[test]
    fn a_visible_leader_keeps_its_role() {
        let (a, b) = (tab("a"), tab("b"));
        let c = [
            Candidate {
                tab: &a,
                visible: true,
                activity: 1,
            },
            Candidate {
                tab: &b,
                visible: true,
                activity: 9,
            },
        ];
        assert_eq!(elect(Some(&a), &c), Some(a.clone()));
    }

    #[test]
    fn a_hidden_leader_yields_to_the_most_recently_active_visible_tab() {
        let (a, b, c) = (tab("a"), tab("b"), tab("c"));
        let cands = [
            Candidate {
                tab: &a,
                visible: false,
                activity: 9,
            },
            Candidate {
                tab: &b,
                visible: true,
                activity: 2,
            },
            Candidate {
                tab: &c,
                visible: true,
                activity: 5,
            },
        ];
        assert_eq!(elect(Some(&a), &cands), Some(c.clone()));
    }

    #[test]
    fn a_hidden_leader_stays_while_no_tab_is_visible() {
        let (a, b) = (tab("a"), tab("b"));
        let cands = [
            Candidate {
                tab: &a,
                visible: false,
                activity: 1,
            },
            Candidate {
                tab: &b,
                visible: false,
                activity: 5,
            },
        ];
        assert_eq!(elect(Some(&a), &cands), Some(a.clone()));
    }

    #[test]
    fn when_the_leader_left_the_most_recent_visible_tab_wins_else_the_most_recent() {
        let (gone, b, c) = (tab("gone"), tab("b"), tab("c"));
        let visible_b = [
            Candidate {
                tab: &b,
                visible: true,
                activity: 1,
            },
            Candidate {
                tab: &c,
                visible: false,
                activity: 5,
            },
        ];
        assert_eq!(elect(Some(&gone), &visible_b), Some(b.clone()));
        let all_hidden = [
            Candidate {
                tab: &b,
                visible: false,
                activity: 1,
            },
            Candidate {
                tab: &c,
                visible: false,
                activity: 5,
            },
        ];
        assert_eq!(elect(Some(&gone), &all_hidden), Some(c.clone()));
    }
}
