//! Randomness for tokens and handles: the operating system's CSPRNG, drawn in
//! batches (SR-01, AT-09).
//!
//! A login mints 48 random bytes (a token and a handle). Asking the kernel for them
//! one login at a time made the `getrandom` system call the largest single cost of
//! `/login` (docs/PERFORMANCE.md, stop 27). Each thread therefore draws
//! [`BATCH`] bytes at once and hands them out in order:
//!
//! - every byte handed out came from the OS generator and is handed out once; no
//!   user-space generator stretches it, so nothing here is cryptography of ours;
//! - a byte is wiped from the batch as it is handed out, and the rest of the batch
//!   on the thread's exit, so a later memory disclosure finds no
//!   token that was already issued;
//! - a failing OS generator fails the draw that needed it: the caller panics, as
//!   before, and never falls back to anything weaker (SR-01).
//!
//! What a batch shares with `rand`'s `ThreadRng`, which SR-01 also allows: the
//! next tokens of a thread sit in its memory until they are used, and a process
//! that `fork`s without `exec` would hand the same bytes to parent and child. A
//! tokio server does not fork (a multi-threaded process may not, short of `exec`).

use std::cell::RefCell;

use zeroize::Zeroize;

/// Bytes drawn from the OS per system call: 21 logins' worth.
pub(crate) const BATCH: usize = 1024;

struct Batch {
    bytes: [u8; BATCH],
    /// Bytes at and after this index have not been handed out.
    next: usize,
}

thread_local! {
    static BATCH_OF_THREAD: RefCell<Batch> = const {
        RefCell::new(Batch {
            bytes: [0; BATCH],
            // Empty: the first draw refills.
            next: BATCH,
        })
    };
}

impl Drop for Batch {
    fn drop(&mut self) {
        self.bytes.zeroize();
    }
}

impl Batch {
    fn fill(&mut self, out: &mut [u8]) -> Result<(), getrandom::Error> {
        if out.len() > BATCH {
            return getrandom::fill(out);
        }
        if BATCH - self.next < out.len() {
            // What is left is too short: wiped (it was never handed out, but it
            // need not linger either) and replaced.
            self.bytes[self.next..].zeroize();
            getrandom::fill(&mut self.bytes)?;
            self.next = 0;
        }
        let end = self.next + out.len();
        let taken = &mut self.bytes[self.next..end];
        out.copy_from_slice(taken);
        taken.zeroize();
        self.next = end;
        Ok(())
    }
}

/// Fills `out` with bytes from the operating system's CSPRNG.
///
/// # Errors
///
/// The OS generator's error, when a batch had to be drawn and could not be. Nothing
/// is handed out then.
pub(crate) fn fill(out: &mut [u8]) -> Result<(), getrandom::Error> {
    // `try_with` fails only while the thread is being torn down: then the OS is
    // asked directly.
    BATCH_OF_THREAD
        .try_with(|batch| match batch.try_borrow_mut() {
            Ok(mut batch) => batch.fill(out),
            // Not reentrant today; if it ever were, the OS would answer.
            Err(_) => getrandom::fill(out),
        })
        .unwrap_or_else(|_| getrandom::fill(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fresh() -> Batch {
        Batch {
            bytes: [0; BATCH],
            next: BATCH,
        }
    }

    #[test]
    fn every_byte_is_handed_out_once_and_wiped() {
        let mut batch = fresh();
        let mut first = [0u8; 48];
        batch.fill(&mut first).unwrap();
        assert_eq!(batch.next, 48);
        assert!(batch.bytes[..48].iter().all(|&b| b == 0), "wiped");
        let mut second = [0u8; 48];
        batch.fill(&mut second).unwrap();
        assert_ne!(first, second);
        assert_eq!(batch.next, 96);
    }

    #[test]
    fn a_short_rest_is_wiped_and_replaced() {
        let mut batch = fresh();
        let mut out = [0u8; 48];
        batch.fill(&mut out).unwrap();
        batch.next = BATCH - 10;
        let rest: Vec<u8> = batch.bytes[BATCH - 10..].to_vec();
        batch.fill(&mut out).unwrap();
        assert_eq!(batch.next, 48);
        assert_ne!(&out[..10], &rest[..], "the rest was not handed out");
    }

    #[test]
    fn a_draw_larger_than_a_batch_goes_to_the_os() {
        let mut batch = fresh();
        let mut out = vec![0u8; BATCH + 1];
        batch.fill(&mut out).unwrap();
        assert_eq!(batch.next, BATCH, "the batch was not touched");
        assert!(out.iter().any(|&b| b != 0));
    }

    #[test]
    fn threads_do_not_share_bytes() {
        let draw = || {
            let mut out = [0u8; 32];
            fill(&mut out).unwrap();
            out
        };
        let here = draw();
        let there = std::thread::spawn(draw).join().unwrap();
        assert_ne!(here, there);
    }
}
