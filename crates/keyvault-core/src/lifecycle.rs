//! The key lifecycle state machine and the per-version states.
//!
//! [`KEY_TRANSITIONS`] is the one table of allowed key transitions; [`KeyState::apply`] looks a
//! request up in it and refuses everything else. docs/LIFECYCLE.md shows the same table and
//! explains each row. [`VERSION_TRANSITIONS`] does the same for single versions.

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::policy::KeyOperation;
use crate::time::Timestamp;

/// Shortest deletion window: a key can be destroyed no sooner than this after deletion was
/// scheduled, so a mistaken deletion can always be cancelled the next working day.
pub const MIN_DELETION_WINDOW: Duration = Duration::from_secs(24 * 60 * 60);

/// A suggested deletion window for callers that do not choose one (seven days).
pub const DEFAULT_DELETION_WINDOW: Duration = Duration::from_secs(7 * 24 * 60 * 60);

/// Where a key is in its life (after NIST SP 800-57 Part 1, §7).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum KeyState {
    /// Created but not yet usable ("pre-activation").
    Pending,
    /// In service: every operation its algorithm and policy allow.
    Active,
    /// Switched off, reversibly: no operation until enabled again.
    Disabled,
    /// Retiring: only processes existing data (decrypt, verify, unwrap, export), never
    /// protects new data.
    Deprecated,
    /// Compromised or withdrawn: refuses every use, permanently.
    Revoked,
    /// Scheduled for destruction at `until`; refuses every use; can be cancelled until then.
    PendingDeletion {
        /// Earliest time the key may be destroyed.
        until: Timestamp,
        /// The state a cancelled deletion returns to.
        resume: ResumeState,
    },
    /// Material erased. The metadata stays as a tombstone so old ciphertexts get "key
    /// destroyed" rather than "not found", and the id and name are never reused by accident.
    Destroyed,
}

/// The states a deletion can be scheduled from, and so the states a cancellation returns to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ResumeState {
    /// Scheduled from [`KeyState::Pending`].
    Pending,
    /// Scheduled from [`KeyState::Disabled`].
    Disabled,
    /// Scheduled from [`KeyState::Deprecated`].
    Deprecated,
    /// Scheduled from [`KeyState::Revoked`]: a revoked key stays revoked if deletion is cancelled.
    Revoked,
}

/// A [`KeyState`] without its data, for tables, errors and audit events.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StateKind {
    /// [`KeyState::Pending`].
    Pending,
    /// [`KeyState::Active`].
    Active,
    /// [`KeyState::Disabled`].
    Disabled,
    /// [`KeyState::Deprecated`].
    Deprecated,
    /// [`KeyState::Revoked`].
    Revoked,
    /// [`KeyState::PendingDeletion`].
    PendingDeletion,
    /// [`KeyState::Destroyed`].
    Destroyed,
}

/// A request to move a key to another state.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "transition", rename_all = "snake_case")]
pub enum Transition {
    /// Pending → Active.
    Activate,
    /// Active → Disabled.
    Disable,
    /// Disabled → Active.
    Enable,
    /// Active → Deprecated.
    Deprecate,
    /// Pending, Active, Disabled or Deprecated → Revoked.
    Revoke,
    /// Pending, Disabled, Deprecated or Revoked → PendingDeletion.
    ScheduleDeletion {
        /// When the key may be destroyed: at least [`MIN_DELETION_WINDOW`] after now.
        until: Timestamp,
    },
    /// PendingDeletion → the state deletion was scheduled from.
    CancelDeletion,
    /// PendingDeletion → Destroyed, once the window has passed.
    Destroy,
}

/// A [`Transition`] without its data.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TransitionKind {
    /// [`Transition::Activate`].
    Activate,
    /// [`Transition::Disable`].
    Disable,
    /// [`Transition::Enable`].
    Enable,
    /// [`Transition::Deprecate`].
    Deprecate,
    /// [`Transition::Revoke`].
    Revoke,
    /// [`Transition::ScheduleDeletion`].
    ScheduleDeletion,
    /// [`Transition::CancelDeletion`].
    CancelDeletion,
    /// [`Transition::Destroy`].
    Destroy,
}

/// Where a row of [`KEY_TRANSITIONS`] leads.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Target {
    /// To this state.
    To(StateKind),
    /// Back to the state the deletion was scheduled from (see [`ResumeState`]).
    StateBeforeDeletion,
}

/// Every allowed key transition: (from, transition, to). Anything not listed is refused.
///
/// Two rows carry a time condition, checked by [`KeyState::apply`]: `ScheduleDeletion` needs
/// `until >= now + MIN_DELETION_WINDOW`, and `Destroy` needs `now >= until`.
pub const KEY_TRANSITIONS: [(StateKind, TransitionKind, Target); 14] = {
    use StateKind as S;
    use Target::{StateBeforeDeletion, To};
    use TransitionKind as T;
    [
        (S::Pending, T::Activate, To(S::Active)),
        (S::Pending, T::Revoke, To(S::Revoked)),
        (S::Pending, T::ScheduleDeletion, To(S::PendingDeletion)),
        (S::Active, T::Disable, To(S::Disabled)),
        (S::Active, T::Deprecate, To(S::Deprecated)),
        (S::Active, T::Revoke, To(S::Revoked)),
        (S::Disabled, T::Enable, To(S::Active)),
        (S::Disabled, T::Revoke, To(S::Revoked)),
        (S::Disabled, T::ScheduleDeletion, To(S::PendingDeletion)),
        (S::Deprecated, T::Revoke, To(S::Revoked)),
        (S::Deprecated, T::ScheduleDeletion, To(S::PendingDeletion)),
        (S::Revoked, T::ScheduleDeletion, To(S::PendingDeletion)),
        (S::PendingDeletion, T::CancelDeletion, StateBeforeDeletion),
        (S::PendingDeletion, T::Destroy, To(S::Destroyed)),
    ]
};

/// The row of [`KEY_TRANSITIONS`] for (`from`, `via`), if there is one.
#[must_use]
pub fn key_transition_target(from: StateKind, via: TransitionKind) -> Option<Target> {
    KEY_TRANSITIONS
        .iter()
        .find(|&&(row_from, row_via, _)| row_from == from && row_via == via)
        .map(|&(_, _, target)| target)
}

/// Why [`KeyState::apply`] refused a transition.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "refusal", rename_all = "snake_case")]
pub enum TransitionRefusal {
    /// No row of [`KEY_TRANSITIONS`] allows it.
    NotInTable,
    /// The deletion window ends too soon.
    DeletionWindowTooShort {
        /// The earliest `until` that would be accepted now.
        earliest: Timestamp,
    },
    /// The deletion window has not passed yet.
    DeletionWindowOpen {
        /// When it passes.
        until: Timestamp,
    },
}

impl fmt::Display for TransitionRefusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TransitionRefusal::NotInTable => f.write_str("the lifecycle table does not allow it"),
            TransitionRefusal::DeletionWindowTooShort { earliest } => write!(
                f,
                "the deletion window must last until at least {earliest}; choose that time or a later one"
            ),
            TransitionRefusal::DeletionWindowOpen { until } => write!(
                f,
                "the deletion window is open until {until}; destroy the key after that, or cancel its deletion"
            ),
        }
    }
}

impl TransitionRefusal {
    /// Why a key that is `from` cannot take `transition`, and what to do instead, in words (for
    /// messages a person reads).
    #[must_use]
    pub fn explain(&self, from: StateKind, transition: TransitionKind) -> String {
        match self {
            TransitionRefusal::NotInTable => way_forward(from, transition),
            other => other.to_string(),
        }
    }
}

/// What to do when [`KEY_TRANSITIONS`] has no row for (`from`, `via`), in words: "it is
/// already disabled; nothing to do", "disable, deprecate or revoke it first", "enable it
/// instead", "a key that is revoked can never be enabled; create a new key instead".
/// Derived from the table, so it stays true when the table changes.
#[must_use]
pub fn way_forward(from: StateKind, via: TransitionKind) -> String {
    let allows_via = |state: StateKind| key_transition_target(state, via).is_some();
    let steps_from = |state: StateKind| {
        KEY_TRANSITIONS
            .iter()
            .filter(move |&&(row_from, _, _)| row_from == state)
            .filter_map(|&(_, step, target)| match target {
                Target::To(next) => Some((step, next)),
                Target::StateBeforeDeletion => None,
            })
    };
    // Where the request would take the key, when every row for it leads to the same state.
    let mut targets = KEY_TRANSITIONS
        .iter()
        .filter(|&&(_, row_via, _)| row_via == via)
        .map(|&(_, _, target)| target);
    let single_target = match targets.next() {
        Some(Target::To(first)) if targets.all(|other| other == Target::To(first)) => Some(first),
        _ => None,
    };

    if via == TransitionKind::CancelDeletion {
        return format!(
            "no deletion is scheduled, so there is nothing to cancel; the key stays {}",
            from.words()
        );
    }
    if single_target == Some(from) {
        return format!("it is already {}; nothing to do", from.words());
    }
    if from == StateKind::PendingDeletion {
        return "its deletion is scheduled; cancel the deletion first".to_owned();
    }
    if from == StateKind::Destroyed {
        return "a destroyed key is gone for good; create a new key instead".to_owned();
    }
    // Another transition reaches the state the request was after.
    if let Some(wanted) = single_target {
        let instead: Vec<TransitionKind> = steps_from(from)
            .filter(|&(_, next)| next == wanted)
            .map(|(step, _)| step)
            .collect();
        if !instead.is_empty() {
            return format!("{} instead", instructions(&instead));
        }
    }
    // One step to a state where the request is allowed.
    let first: Vec<TransitionKind> = steps_from(from)
        .filter(|&(_, next)| allows_via(next))
        .map(|(step, _)| step)
        .collect();
    if !first.is_empty() {
        return format!("{} first", instructions(&first));
    }
    // Two steps, when every way takes the same second step.
    let two: Vec<(TransitionKind, TransitionKind)> = steps_from(from)
        .flat_map(|(step, middle)| {
            steps_from(middle)
                .filter(|&(_, next)| allows_via(next))
                .map(move |(second, _)| (step, second))
        })
        .collect();
    if let Some(&(_, second)) = two.first()
        && two.iter().all(|&(_, other)| other == second)
    {
        let first: Vec<TransitionKind> = two.iter().map(|&(step, _)| step).collect();
        return format!(
            "first {}, then {}",
            instructions(&first),
            instructions(&[second])
        );
    }
    format!(
        "a key that is {} can never be {}; create a new key instead",
        from.words(),
        via.participle()
    )
}

/// "disable it", "disable or revoke it", "disable, deprecate or revoke it", "schedule its
/// deletion".
fn instructions(steps: &[TransitionKind]) -> String {
    let phrases: Vec<&'static str> = steps.iter().map(|step| step.instruction()).collect();
    // "disable it" and "revoke it" share their object: "disable or revoke it".
    let (verbs, object) = if phrases.iter().all(|phrase| phrase.ends_with(" it")) {
        let verbs: Vec<&'static str> = phrases
            .iter()
            .map(|phrase| phrase.trim_end_matches(" it"))
            .collect();
        (verbs, " it")
    } else {
        (phrases, "")
    };
    let joined = match verbs.split_last() {
        None => String::new(),
        Some((last, [])) => (*last).to_owned(),
        Some((last, rest)) => format!("{} or {last}", rest.join(", ")),
    };
    format!("{joined}{object}")
}

impl KeyState {
    /// This state without its data.
    #[must_use]
    pub const fn kind(&self) -> StateKind {
        match self {
            KeyState::Pending => StateKind::Pending,
            KeyState::Active => StateKind::Active,
            KeyState::Disabled => StateKind::Disabled,
            KeyState::Deprecated => StateKind::Deprecated,
            KeyState::Revoked => StateKind::Revoked,
            KeyState::PendingDeletion { .. } => StateKind::PendingDeletion,
            KeyState::Destroyed => StateKind::Destroyed,
        }
    }

    /// The state after `transition` at time `now`, as [`KEY_TRANSITIONS`] allows.
    ///
    /// # Errors
    /// A [`TransitionRefusal`] when the table has no row for it or a time condition fails.
    pub fn apply(
        &self,
        transition: Transition,
        now: Timestamp,
    ) -> Result<KeyState, TransitionRefusal> {
        let target = key_transition_target(self.kind(), transition.kind())
            .ok_or(TransitionRefusal::NotInTable)?;
        match (transition, target) {
            (Transition::ScheduleDeletion { until }, _) => {
                let earliest = now.saturating_add(MIN_DELETION_WINDOW);
                if until < earliest {
                    return Err(TransitionRefusal::DeletionWindowTooShort { earliest });
                }
                let resume = self.resume_state().ok_or(TransitionRefusal::NotInTable)?;
                Ok(KeyState::PendingDeletion { until, resume })
            }
            (Transition::Destroy, _) => match *self {
                KeyState::PendingDeletion { until, .. } if now < until => {
                    Err(TransitionRefusal::DeletionWindowOpen { until })
                }
                _ => Ok(KeyState::Destroyed),
            },
            (_, Target::StateBeforeDeletion) => match *self {
                KeyState::PendingDeletion { resume, .. } => Ok(resume.into()),
                _ => Err(TransitionRefusal::NotInTable),
            },
            (_, Target::To(kind)) => KeyState::plain(kind).ok_or(TransitionRefusal::NotInTable),
        }
    }

    /// The state a deletion scheduled from here would return to if cancelled.
    const fn resume_state(&self) -> Option<ResumeState> {
        match self {
            KeyState::Pending => Some(ResumeState::Pending),
            KeyState::Disabled => Some(ResumeState::Disabled),
            KeyState::Deprecated => Some(ResumeState::Deprecated),
            KeyState::Revoked => Some(ResumeState::Revoked),
            _ => None,
        }
    }

    /// The state of a kind that carries no data.
    const fn plain(kind: StateKind) -> Option<KeyState> {
        match kind {
            StateKind::Pending => Some(KeyState::Pending),
            StateKind::Active => Some(KeyState::Active),
            StateKind::Disabled => Some(KeyState::Disabled),
            StateKind::Deprecated => Some(KeyState::Deprecated),
            StateKind::Revoked => Some(KeyState::Revoked),
            StateKind::Destroyed => Some(KeyState::Destroyed),
            StateKind::PendingDeletion => None,
        }
    }

    /// Whether a key in this state may perform `operation` (before algorithm and policy).
    ///
    /// Active allows everything; Deprecated allows what
    /// [`KeyOperation::allowed_when_deprecated`] says; every other state allows nothing.
    #[must_use]
    pub const fn permits(&self, operation: KeyOperation) -> bool {
        match self {
            KeyState::Active => true,
            KeyState::Deprecated => operation.allowed_when_deprecated(),
            _ => false,
        }
    }

    /// Whether the key material still exists in this state.
    #[must_use]
    pub const fn has_material(&self) -> bool {
        !matches!(self, KeyState::Destroyed)
    }
}

impl From<ResumeState> for KeyState {
    fn from(resume: ResumeState) -> Self {
        match resume {
            ResumeState::Pending => KeyState::Pending,
            ResumeState::Disabled => KeyState::Disabled,
            ResumeState::Deprecated => KeyState::Deprecated,
            ResumeState::Revoked => KeyState::Revoked,
        }
    }
}

impl StateKind {
    /// Every state kind, in lifecycle order.
    pub const ALL: [StateKind; 7] = [
        StateKind::Pending,
        StateKind::Active,
        StateKind::Disabled,
        StateKind::Deprecated,
        StateKind::Revoked,
        StateKind::PendingDeletion,
        StateKind::Destroyed,
    ];

    /// Stable lower-case name.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            StateKind::Pending => "pending",
            StateKind::Active => "active",
            StateKind::Disabled => "disabled",
            StateKind::Deprecated => "deprecated",
            StateKind::Revoked => "revoked",
            StateKind::PendingDeletion => "pending_deletion",
            StateKind::Destroyed => "destroyed",
        }
    }

    /// The state in words, for messages: "pending deletion" rather than `pending_deletion`.
    #[must_use]
    pub const fn words(self) -> &'static str {
        match self {
            StateKind::PendingDeletion => "pending deletion",
            other => other.as_str(),
        }
    }
}

impl fmt::Display for StateKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Transition {
    /// This transition without its data.
    #[must_use]
    pub const fn kind(&self) -> TransitionKind {
        match self {
            Transition::Activate => TransitionKind::Activate,
            Transition::Disable => TransitionKind::Disable,
            Transition::Enable => TransitionKind::Enable,
            Transition::Deprecate => TransitionKind::Deprecate,
            Transition::Revoke => TransitionKind::Revoke,
            Transition::ScheduleDeletion { .. } => TransitionKind::ScheduleDeletion,
            Transition::CancelDeletion => TransitionKind::CancelDeletion,
            Transition::Destroy => TransitionKind::Destroy,
        }
    }
}

impl TransitionKind {
    /// Every transition kind.
    pub const ALL: [TransitionKind; 8] = [
        TransitionKind::Activate,
        TransitionKind::Disable,
        TransitionKind::Enable,
        TransitionKind::Deprecate,
        TransitionKind::Revoke,
        TransitionKind::ScheduleDeletion,
        TransitionKind::CancelDeletion,
        TransitionKind::Destroy,
    ];

    /// Stable lower-case name.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            TransitionKind::Activate => "activate",
            TransitionKind::Disable => "disable",
            TransitionKind::Enable => "enable",
            TransitionKind::Deprecate => "deprecate",
            TransitionKind::Revoke => "revoke",
            TransitionKind::ScheduleDeletion => "schedule_deletion",
            TransitionKind::CancelDeletion => "cancel_deletion",
            TransitionKind::Destroy => "destroy",
        }
    }

    /// The request in words, to follow "cannot" and precede "a key": "schedule the deletion
    /// of" rather than `schedule_deletion`.
    #[must_use]
    pub const fn words(self) -> &'static str {
        match self {
            TransitionKind::ScheduleDeletion => "schedule the deletion of",
            TransitionKind::CancelDeletion => "cancel the deletion of",
            other => other.as_str(),
        }
    }

    /// The request as an instruction about the key: "disable it", "schedule its deletion".
    const fn instruction(self) -> &'static str {
        match self {
            TransitionKind::Activate => "activate it",
            TransitionKind::Disable => "disable it",
            TransitionKind::Enable => "enable it",
            TransitionKind::Deprecate => "deprecate it",
            TransitionKind::Revoke => "revoke it",
            TransitionKind::ScheduleDeletion => "schedule its deletion",
            TransitionKind::CancelDeletion => "cancel its deletion",
            TransitionKind::Destroy => "destroy it",
        }
    }

    /// The past participle, after "can never be".
    const fn participle(self) -> &'static str {
        match self {
            TransitionKind::Activate => "activated",
            TransitionKind::Disable => "disabled",
            TransitionKind::Enable => "enabled",
            TransitionKind::Deprecate => "deprecated",
            TransitionKind::Revoke => "revoked",
            TransitionKind::ScheduleDeletion => "scheduled for deletion",
            TransitionKind::CancelDeletion => "restored from deletion",
            TransitionKind::Destroy => "destroyed",
        }
    }
}

impl fmt::Display for TransitionKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The state of one version of a key, independent of the key's own state.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum VersionState {
    /// Usable, within the key's state and policy: the latest enabled version encrypts.
    Enabled,
    /// Switched off, reversibly: neither encrypts nor decrypts.
    Disabled,
    /// Compromised: never used again. Material kept until destroyed.
    Revoked,
    /// Material erased; the version number is never reused.
    Destroyed,
}

/// A request to change one version's state.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum VersionTransition {
    /// Enabled → Disabled.
    Disable,
    /// Disabled → Enabled.
    Enable,
    /// Enabled or Disabled → Revoked.
    Revoke,
    /// Enabled, Disabled or Revoked → Destroyed.
    Destroy,
}

/// Every allowed version transition: (from, transition, to). Anything not listed is refused.
///
/// [`crate::KeyMetadata`] adds one guard: the version that currently encrypts is never
/// destroyed (revoke it first, or rotate).
pub const VERSION_TRANSITIONS: [(VersionState, VersionTransition, VersionState); 7] = {
    use VersionState as S;
    use VersionTransition as T;
    [
        (S::Enabled, T::Disable, S::Disabled),
        (S::Disabled, T::Enable, S::Enabled),
        (S::Enabled, T::Revoke, S::Revoked),
        (S::Disabled, T::Revoke, S::Revoked),
        (S::Enabled, T::Destroy, S::Destroyed),
        (S::Disabled, T::Destroy, S::Destroyed),
        (S::Revoked, T::Destroy, S::Destroyed),
    ]
};

impl VersionState {
    /// Every version state.
    pub const ALL: [VersionState; 4] = [
        VersionState::Enabled,
        VersionState::Disabled,
        VersionState::Revoked,
        VersionState::Destroyed,
    ];

    /// The state after `transition`, or `None` if [`VERSION_TRANSITIONS`] has no such row.
    #[must_use]
    pub fn apply(self, transition: VersionTransition) -> Option<VersionState> {
        VERSION_TRANSITIONS
            .iter()
            .find(|&&(from, via, _)| from == self && via == transition)
            .map(|&(_, _, to)| to)
    }

    /// Stable lower-case name.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            VersionState::Enabled => "enabled",
            VersionState::Disabled => "disabled",
            VersionState::Revoked => "revoked",
            VersionState::Destroyed => "destroyed",
        }
    }
}

impl fmt::Display for VersionState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl VersionTransition {
    /// Every version transition.
    pub const ALL: [VersionTransition; 4] = [
        VersionTransition::Disable,
        VersionTransition::Enable,
        VersionTransition::Revoke,
        VersionTransition::Destroy,
    ];

    /// Stable lower-case name.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            VersionTransition::Disable => "disable",
            VersionTransition::Enable => "enable",
            VersionTransition::Revoke => "revoke",
            VersionTransition::Destroy => "destroy",
        }
    }
}

impl VersionTransition {
    /// The past participle, after "can never be".
    const fn participle(self) -> &'static str {
        match self {
            VersionTransition::Disable => "disabled",
            VersionTransition::Enable => "enabled",
            VersionTransition::Revoke => "revoked",
            VersionTransition::Destroy => "destroyed",
        }
    }
}

/// What to do when [`VERSION_TRANSITIONS`] has no row for (`from`, `via`), in words.
#[must_use]
pub fn version_way_forward(from: VersionState, via: VersionTransition) -> String {
    let already = VERSION_TRANSITIONS
        .iter()
        .filter(|&&(_, row_via, _)| row_via == via)
        .all(|&(_, _, to)| to == from);
    if already {
        return format!("it is already {from}; nothing to do");
    }
    format!(
        "a version that is {from} can never be {}; rotate the key to get a new version instead",
        via.participle()
    )
}

impl fmt::Display for VersionTransition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
