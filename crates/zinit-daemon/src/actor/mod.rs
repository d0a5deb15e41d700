//! The supervisor actor: the one task that owns `zinit_core::Supervisor`.
//!
//! Inputs arrive on channels (commands from connections, exits from the
//! reaper, fired timers); each is handed to the pure core, and the effects
//! it returns are carried out here, at once and in order. After a batch of
//! inputs the actor publishes an immutable [`Snapshot`] for readers, and
//! only then sends the replies, so a client that got "ok" reads a state at
//! least as new as its own command.
//!
//! Must not: block (no sleeps, no /proc scans, no waiting on children), or
//! let any error end the loop.

mod effects;
pub mod launcher;
#[cfg(test)]
mod tests;

use effects::Shell;
use std::collections::HashMap;
use std::sync::Arc;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::time::Instant;
use zinit_core::supervisor::{
    Command, CommandError, Input, ReplyTo, ShutdownMode, Snapshot, Supervisor,
};

pub use effects::{Environment, OutputSinks};

type Reply = oneshot::Sender<Result<(), CommandError>>;

/// A timer that expired: (service, generation).
pub(crate) type TimerFired = (zinit_core::name::ServiceName, u64);

/// The cheap, cloneable way to talk to the actor.
#[derive(Clone)]
pub struct Handle {
    commands: mpsc::UnboundedSender<(Command, Reply)>,
    snapshot: watch::Receiver<Arc<Snapshot>>,
}

/// Why a command got no answer.
#[derive(Debug, thiserror::Error)]
pub enum ActorError {
    #[error(transparent)]
    Refused(#[from] CommandError),
    #[error("zinit is shutting down")]
    Gone,
}

impl Handle {
    /// Send a command and wait for the supervisor's answer.
    pub async fn command(&self, command: Command) -> Result<(), ActorError> {
        self.send(command)?.await
    }

    /// Queue a command now; the returned future waits for its answer. Many
    /// commands sent before any is awaited reach the actor as one batch
    /// (one snapshot for all of them, not one each).
    pub fn send(
        &self,
        command: Command,
    ) -> Result<impl std::future::Future<Output = Result<(), ActorError>>, ActorError> {
        let (tx, rx) = oneshot::channel();
        self.commands
            .send((command, tx))
            .map_err(|_| ActorError::Gone)?;
        Ok(async move { Ok(rx.await.map_err(|_| ActorError::Gone)??) })
    }

    /// The latest published view of every service.
    pub fn snapshot(&self) -> Arc<Snapshot> {
        self.snapshot.borrow().clone()
    }

    /// A receiver of every snapshot published from now on.
    pub fn subscribe(&self) -> watch::Receiver<Arc<Snapshot>> {
        self.snapshot.clone()
    }
}

/// How a completed shutdown went.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ShutdownOutcome {
    pub mode: ShutdownMode,
    /// Services SIGKILLed at their timeout.
    pub forced: Vec<zinit_core::name::ServiceName>,
    /// The service end whose `failure_action` or `success_action` began
    /// the shutdown, if one did.
    pub cause: Option<zinit_core::supervisor::ShutdownCause>,
}

/// Start the actor; it runs until a shutdown completes and then resolves
/// the returned receiver with the outcome.
pub fn start(sinks: OutputSinks, env: Environment) -> (Handle, oneshot::Receiver<ShutdownOutcome>) {
    start_with(sinks, env, Box::new(launcher::Processes::default()))
}

/// [`start`], with the processes coming from `launcher` (a test's fake).
pub fn start_with(
    sinks: OutputSinks,
    env: Environment,
    launcher: Box<dyn launcher::Launcher>,
) -> (Handle, oneshot::Receiver<ShutdownOutcome>) {
    let (commands_tx, commands_rx) = mpsc::unbounded_channel();
    let (snapshot_tx, snapshot_rx) = watch::channel(Arc::new(Snapshot::default()));
    let (done_tx, done_rx) = oneshot::channel();
    let actor = Actor {
        core: Supervisor::new(),
        shell: Shell::new(sinks, env, launcher),
        pending: HashMap::new(),
        next_reply: 1,
        snapshot: snapshot_tx,
    };
    tokio::spawn(actor.run(commands_rx, done_tx));
    (
        Handle {
            commands: commands_tx,
            snapshot: snapshot_rx,
        },
        done_rx,
    )
}

struct Actor {
    core: Supervisor,
    shell: Shell,
    pending: HashMap<ReplyTo, Reply>,
    next_reply: ReplyTo,
    snapshot: watch::Sender<Arc<Snapshot>>,
}

/// The most inputs handled before a snapshot is published: batching keeps
/// bursts cheap, the bound keeps readers from waiting long.
const MAX_BATCH: usize = 256;

impl Actor {
    async fn run(
        mut self,
        mut commands: mpsc::UnboundedReceiver<(Command, Reply)>,
        done: oneshot::Sender<ShutdownOutcome>,
    ) {
        let mut exits = self.shell.take_exit_receiver();
        let mut timers = self.shell.take_timer_receiver();
        loop {
            // Wait for one input, then take whatever else is already queued.
            let first = tokio::select! {
                Some((command, reply)) = commands.recv() => self.command_input(command, reply),
                Some(reaped) = exits.recv() => self.shell.exit_input(reaped),
                Some(fired) = timers.recv() => timer_input(fired),
                else => break,
            };
            let mut batch = vec![first];
            while batch.len() < MAX_BATCH {
                let next = if let Ok(reaped) = exits.try_recv() {
                    self.shell.exit_input(reaped)
                } else if let Ok(fired) = timers.try_recv() {
                    timer_input(fired)
                } else if let Ok((command, reply)) = commands.try_recv() {
                    self.command_input(command, reply)
                } else {
                    break;
                };
                batch.push(next);
            }
            let mut replies = Vec::new();
            for input in batch {
                self.step(input, &mut replies);
            }
            self.snapshot.send_replace(Arc::new(self.core.snapshot()));
            for (to, result) in replies {
                if let Some(tx) = self.pending.remove(&to) {
                    // The client may have gone; its answer is moot.
                    let _ = tx.send(result);
                }
            }
            if let Some(mode) = self.shell.shutdown_complete.take() {
                let forced = self.core.forced_stops();
                let cause = self.core.shutdown_cause().cloned();
                let _ = done.send(ShutdownOutcome {
                    mode,
                    forced,
                    cause,
                });
                break;
            }
        }
    }

    fn command_input(&mut self, command: Command, reply: Reply) -> Input {
        #[cfg(debug_assertions)]
        injected_fault(&command);
        let to = self.next_reply;
        self.next_reply += 1;
        self.pending.insert(to, reply);
        Input::Command { reply: to, command }
    }

    /// One input through the core, and every effect it causes. The loop
    /// decides nothing itself: what the shell must do after an exit, a stop
    /// or a forget comes from the core as effects too.
    fn step(&mut self, input: Input, replies: &mut Vec<(ReplyTo, Result<(), CommandError>)>) {
        let now = Instant::now().into_std();
        let mut queue = std::collections::VecDeque::from(self.core.handle(now, input));
        while let Some(effect) = queue.pop_front() {
            if let Some(feedback) = self.shell.execute(effect, replies) {
                queue.extend(self.core.handle(Instant::now().into_std(), feedback));
            }
        }
    }
}

fn timer_input((service, generation): TimerFired) -> Input {
    Input::TimerFired {
        service,
        generation,
    }
}

/// Debug builds only (compiled out of release builds): with
/// `ZINIT_FAULT_PANIC_ON_START=NAME` in zinit's environment, a `start` of
/// service NAME makes the actor panic. The tests use it to prove what the
/// rest of zinit does when the supervisor itself fails: PID 1 keeps
/// reaping, a daemon exits 1 and leaves its state file for the next one.
#[cfg(debug_assertions)]
fn injected_fault(command: &Command) {
    if let Command::Start(name) = command {
        if std::env::var_os("ZINIT_FAULT_PANIC_ON_START").is_some_and(|n| n == name.as_str()) {
            panic!("injected fault: the actor panics on `start {name}`");
        }
    }
}
