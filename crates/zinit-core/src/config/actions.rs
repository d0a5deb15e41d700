//! Lowering of `failure_action` and `success_action`: what zinit does when
//! a service ends for good (`none`, `shutdown`, `poweroff`, `reboot`), and
//! a warning where the service's restart policy means it never can.

use super::diagnostic::Diags;
use super::lower::type_error;
use super::scalar::Typed;
use super::yaml_tree::Node;
use crate::spec::{EndAction, RestartPolicy, RestartWhen};

/// An action name; `None` for null (not set) and after an error.
pub(crate) fn end_action(node: &Node, key: &str, d: &mut Diags) -> Option<EndAction> {
    let names: Vec<&str> = EndAction::ALL.iter().map(|a| a.name()).collect();
    let expected = names.join(", ");
    match Typed::of(node) {
        Typed::Null => None,
        Typed::Str(text) => match EndAction::parse(text) {
            Some(action) => Some(action),
            None => {
                d.error(
                    node.pos,
                    Some(key),
                    format!("unknown action {text:?}; expected {expected}"),
                );
                None
            }
        },
        _ => {
            type_error(d, node, key, &format!("one of {expected}"));
            None
        }
    }
}

/// Warn about an action the restart policy never lets happen: a success
/// that `always` restarts, a failure that is always restarted and never
/// given up on.
pub(crate) fn check_reachable(
    action: Option<(EndAction, &Node)>,
    key: &str,
    when: RestartWhen,
    restart: &RestartPolicy,
    d: &mut Diags,
) {
    let Some((action, node)) = action else {
        return;
    };
    if action == EndAction::None {
        return;
    }
    let message = match key {
        "success_action" if when == RestartWhen::Always => {
            "has no effect: restart always restarts a service that exits 0 (use restart: \
             on-failure or never)"
        }
        "failure_action" if when != RestartWhen::Never && restart.limit.is_none() => {
            "has no effect: every failure is restarted; set restart.max_restarts so zinit \
             gives up, or restart: never"
        }
        _ => return,
    };
    d.warn(node.pos, Some(key), message);
}
