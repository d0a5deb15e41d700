//! The supervisor driven with a fake clock and a fake shell: no processes.

use super::*;
use crate::exit::{ExitStatus, Oom};
use crate::signal::Signal;
use crate::spec::{CommandLine, ServiceSpec};
use std::sync::Arc;
use std::time::{Duration, Instant};

mod bindings;
mod facts;
mod harness;
mod policy;
mod property;
mod restarts;
mod stop_order;
mod table;
mod why;

use harness::Harness;

fn name(s: &str) -> ServiceName {
    ServiceName::new(s).unwrap()
}

fn spec(exec: &str) -> ServiceSpec {
    ServiceSpec::from_exec(CommandLine::parse(exec).unwrap())
}

fn after(mut s: ServiceSpec, deps: &[&str]) -> ServiceSpec {
    s.after = deps.iter().map(|d| name(d)).collect();
    s
}

fn oneshot(mut s: ServiceSpec) -> ServiceSpec {
    s.oneshot = true;
    s
}

fn tested(mut s: ServiceSpec) -> ServiceSpec {
    s.test = Some(CommandLine::parse("check").unwrap());
    s
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

#[test]
fn error_phrases_are_the_ones_clients_match() {
    assert_eq!(
        CommandError::NotFound(name("x")).to_string(),
        "service name \"x\" unknown"
    );
    assert_eq!(
        CommandError::AlreadyMonitored(name("x")).to_string(),
        "service \"x\" already monitored"
    );
    assert_eq!(
        CommandError::IsUp(name("x")).to_string(),
        "service \"x\" is up"
    );
    assert_eq!(
        CommandError::IsDown(name("x")).to_string(),
        "service \"x\" is down"
    );
    assert!(CommandError::ShuttingDown
        .to_string()
        .contains("shutting down"));
}

#[test]
fn states_render_in_the_wire_shape() {
    let shape = |s: &State| {
        let text = s.to_string();
        let (word, rest) = text.split_once('(').unwrap_or((&text, ""));
        assert!(word.chars().all(|c| c.is_alphanumeric()), "{text}");
        assert!(rest.is_empty() || rest.ends_with(')'), "{text}");
        text
    };
    assert_eq!(shape(&State::Running), "Running");
    assert_eq!(
        shape(&State::Error("exited with code 3".into())),
        "Error(exited with code 3)"
    );
    assert_eq!(shape(&State::Failure("a\nb".into())), "Failure(a b)");
    assert_eq!(
        shape(&State::TestFailure(String::new())),
        "TestFailure(unknown)"
    );
}
