//! Signals as an enum: parsed once from names, never kept as strings.
//!
//! Numbers follow the generic Linux ABI (x86, arm, riscv). The daemon maps
//! them to the platform type at the edge.

use std::fmt;
use std::str::FromStr;

macro_rules! signals {
    ($($variant:ident = $num:literal, $name:literal;)*) => {
        /// A POSIX signal zinit can send.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum Signal { $($variant,)* }

        impl Signal {
            /// Every signal, in numeric order.
            pub const ALL: &'static [Signal] = &[$(Signal::$variant,)*];

            /// The conventional upper-case name, e.g. `SIGTERM`.
            pub fn name(self) -> &'static str {
                match self { $(Signal::$variant => $name,)* }
            }

            /// The Linux signal number.
            pub fn number(self) -> i32 {
                match self { $(Signal::$variant => $num,)* }
            }

            /// The signal with this Linux number, if zinit knows it.
            pub fn from_number(n: i32) -> Option<Signal> {
                match n { $($num => Some(Signal::$variant),)* _ => None }
            }
        }
    };
}

signals! {
    Hup = 1, "SIGHUP";
    Int = 2, "SIGINT";
    Quit = 3, "SIGQUIT";
    Ill = 4, "SIGILL";
    Trap = 5, "SIGTRAP";
    Abrt = 6, "SIGABRT";
    Bus = 7, "SIGBUS";
    Fpe = 8, "SIGFPE";
    Kill = 9, "SIGKILL";
    Usr1 = 10, "SIGUSR1";
    Segv = 11, "SIGSEGV";
    Usr2 = 12, "SIGUSR2";
    Pipe = 13, "SIGPIPE";
    Alrm = 14, "SIGALRM";
    Term = 15, "SIGTERM";
    Stkflt = 16, "SIGSTKFLT";
    Chld = 17, "SIGCHLD";
    Cont = 18, "SIGCONT";
    Stop = 19, "SIGSTOP";
    Tstp = 20, "SIGTSTP";
    Ttin = 21, "SIGTTIN";
    Ttou = 22, "SIGTTOU";
    Urg = 23, "SIGURG";
    Xcpu = 24, "SIGXCPU";
    Xfsz = 25, "SIGXFSZ";
    Vtalrm = 26, "SIGVTALRM";
    Prof = 27, "SIGPROF";
    Winch = 28, "SIGWINCH";
    Io = 29, "SIGIO";
    Pwr = 30, "SIGPWR";
    Sys = 31, "SIGSYS";
}

/// A signal name that zinit does not know.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnknownSignal(pub String);

impl fmt::Display for UnknownSignal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "unknown signal {:?}", self.0)
    }
}

impl std::error::Error for UnknownSignal {}

impl FromStr for Signal {
    type Err = UnknownSignal;

    /// Accepts `SIGTERM`, `sigterm`, `TERM`, `term` and the number `15`.
    fn from_str(raw: &str) -> Result<Self, Self::Err> {
        let trimmed = raw.trim();
        if let Ok(n) = trimmed.parse::<i32>() {
            return Signal::from_number(n).ok_or_else(|| UnknownSignal(raw.to_owned()));
        }
        let upper = trimmed.to_ascii_uppercase();
        let full = if upper.starts_with("SIG") {
            upper
        } else {
            format!("SIG{upper}")
        };
        Signal::ALL
            .iter()
            .copied()
            .find(|s| s.name() == full)
            .ok_or_else(|| UnknownSignal(raw.to_owned()))
    }
}

impl fmt::Display for Signal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_names_case_insensitively() {
        for raw in [
            "SIGTERM",
            "sigterm",
            "SigTerm",
            "TERM",
            "term",
            "15",
            " SIGTERM ",
        ] {
            assert_eq!(raw.parse::<Signal>(), Ok(Signal::Term), "{raw}");
        }
        assert_eq!("sigint".parse::<Signal>(), Ok(Signal::Int));
        assert_eq!("SIGKILL".parse::<Signal>().map(Signal::number), Ok(9));
    }

    #[test]
    fn refuses_unknown_names() {
        for raw in ["", "SIG", "SIGFOO", "0", "99", "-1"] {
            assert!(raw.parse::<Signal>().is_err(), "{raw}");
        }
    }

    #[test]
    fn numbers_round_trip() {
        for s in Signal::ALL {
            assert_eq!(Signal::from_number(s.number()), Some(*s));
        }
    }
}
