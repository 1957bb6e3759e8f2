//! The one connection badge a user sees, summarised from every connection of the pool, and
//! the words for it.

use quotecast_shared::realtime::ErrorObject;
use quotecast_shared::realtime::client::ConnectionState;

#[derive(Debug, Clone, PartialEq)]
pub enum Badge {
    /// No ticker, no connection.
    Idle,
    Connecting,
    Live,
    /// The earliest moment a connection will try again.
    Reconnecting {
        at_ms: i64,
    },
    /// Refused for a reason retrying cannot fix.
    Offline {
        reason: String,
    },
}

/// The worst state wins: one refused connection makes the dashboard offline, one waiting
/// connection makes it reconnecting, even if others are live.
pub fn summarize<'a>(states: impl IntoIterator<Item = &'a ConnectionState>) -> Badge {
    let mut badge = Badge::Idle;
    for state in states {
        let candidate = match state {
            ConnectionState::Idle => Badge::Idle,
            ConnectionState::Live => Badge::Live,
            ConnectionState::Connecting => Badge::Connecting,
            ConnectionState::Reconnecting { at_ms, .. } => Badge::Reconnecting { at_ms: *at_ms },
            ConnectionState::Failed { errors } => Badge::Offline {
                reason: describe_errors(errors),
            },
        };
        badge = match (badge, candidate) {
            (Badge::Reconnecting { at_ms: a }, Badge::Reconnecting { at_ms: b }) => {
                Badge::Reconnecting { at_ms: a.min(b) }
            }
            (current, candidate) if rank(&candidate) > rank(&current) => candidate,
            (current, _) => current,
        };
    }
    badge
}

fn rank(badge: &Badge) -> u8 {
    match badge {
        Badge::Idle => 0,
        Badge::Live => 1,
        Badge::Connecting => 2,
        Badge::Reconnecting { .. } => 3,
        Badge::Offline { .. } => 4,
    }
}

impl Badge {
    /// Short text for the badge; `now_ms` counts down a reconnect.
    pub fn label(&self, now_ms: i64) -> String {
        match self {
            Badge::Idle => "idle".to_owned(),
            Badge::Connecting => "connecting…".to_owned(),
            Badge::Live => "live".to_owned(),
            Badge::Reconnecting { at_ms } => {
                let secs = ((at_ms - now_ms).max(0) + 999) / 1000;
                let secs = secs.max(1);
                format!("reconnecting in {secs} s")
            }
            Badge::Offline { .. } => "offline".to_owned(),
        }
    }

    /// A stable name for styling and for tests.
    pub fn name(&self) -> &'static str {
        match self {
            Badge::Idle => "idle",
            Badge::Connecting => "connecting",
            Badge::Live => "live",
            Badge::Reconnecting { .. } => "reconnecting",
            Badge::Offline { .. } => "offline",
        }
    }
}

/// An error list as one sentence, with what to do about the usual causes.
pub fn describe_errors(errors: &[ErrorObject]) -> String {
    let parts: Vec<String> = errors
        .iter()
        .map(|e| match (&e.error_type, &e.message) {
            (Some(t), Some(m)) => format!("{t}: {m}"),
            (Some(t), None) => t.clone(),
            (None, Some(m)) => m.clone(),
            (None, None) => "unknown error".to_owned(),
        })
        .collect();
    let text = if parts.is_empty() {
        "the API refused the connection".to_owned()
    } else {
        parts.join("; ")
    };
    let unauthorized = errors.iter().any(|e| {
        e.error_type.as_deref() == Some("UnauthorizedException")
            || matches!(e.error_code, Some(401 | 403))
    });
    if unauthorized {
        format!("{text}. Check `apiKey` in config.json (API keys expire).")
    } else {
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_worst_connection_decides() {
        use ConnectionState as S;
        assert_eq!(summarize([]), Badge::Idle);
        assert_eq!(summarize([&S::Live, &S::Idle]), Badge::Live);
        assert_eq!(summarize([&S::Live, &S::Connecting]), Badge::Connecting);
        assert_eq!(
            summarize([
                &S::Reconnecting {
                    at_ms: 9,
                    attempt: 1
                },
                &S::Live,
                &S::Reconnecting {
                    at_ms: 5,
                    attempt: 3
                },
            ]),
            Badge::Reconnecting { at_ms: 5 }
        );
        let failed = S::Failed {
            errors: vec![ErrorObject::new(
                "UnauthorizedException",
                "You are not authorized",
            )],
        };
        let badge = summarize([
            &S::Reconnecting {
                at_ms: 1,
                attempt: 1,
            },
            &failed,
            &S::Live,
        ]);
        assert_eq!(badge.name(), "offline");
        let Badge::Offline { reason } = badge else {
            unreachable!()
        };
        assert!(
            reason.starts_with("UnauthorizedException: You are not authorized. Check `apiKey`")
        );
    }

    #[test]
    fn labels_count_down() {
        let b = Badge::Reconnecting { at_ms: 10_000 };
        assert_eq!(b.label(7_500), "reconnecting in 3 s");
        assert_eq!(b.label(7_000), "reconnecting in 3 s");
        assert_eq!(b.label(9_999), "reconnecting in 1 s");
        assert_eq!(b.label(12_000), "reconnecting in 1 s");
        assert_eq!(Badge::Live.label(0), "live");
        assert_eq!(
            Badge::Offline {
                reason: String::new()
            }
            .label(0),
            "offline"
        );
    }

    #[test]
    fn describes_errors_of_any_shape() {
        assert_eq!(describe_errors(&[]), "the API refused the connection");
        assert_eq!(
            describe_errors(&[
                ErrorObject::message_only("Validation error"),
                ErrorObject::default().with_code(500),
            ]),
            "Validation error; unknown error"
        );
        assert!(describe_errors(&[ErrorObject::default().with_code(401)]).contains("apiKey"));
    }
}
