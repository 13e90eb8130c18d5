//! Keyed rate limiter: a fixed table of token buckets, one per active key, lock-free.
//!
//! Each key (a `u64`; bindings hash strings and bytes to one) gets its own GCRA bucket with the
//! shared [`TokenBucketConfig`], exactly as a [`TokenBucket`](crate::TokenBucket) would behave.
//! The buckets live in `N` slots. A bucket that is full again is indistinguishable from a new
//! key's bucket, so its slot may go to another key: only *active* keys (not yet refilled) hold
//! slots, and memory never grows. When every slot a key may use holds an active key, the
//! [`TableFullPolicy`] decides: refuse with [`Reason::TableFull`] or admit untracked.
//!
//! **Table.** Open addressing with bounded linear probing: `mix(key)` (SplitMix64) picks a
//! start slot and a key may live in the [`MAX_PROBE`] slots from there (all of them if
//! `N < MAX_PROBE`). A lookup scans that window for the key; if absent, it takes the first
//! slot whose bucket is full. A slot is three words: the key, a CAS word and a high word. The
//! CAS word is the token bucket's (tag and low bits of the theoretical arrival time, see
//! [`token_bucket`](crate::token_bucket)) plus an *owner* byte, a fingerprint of the key from
//! `mix(key)`, and a *pending* bit. All zeros is key 0 with a full bucket, so a new table is
//! simply zeroed and `const`.
//!
//! **Who owns a slot.** A slot is *settled*, held by the key in its key word, or *pending*,
//! held by one caller that is claiming it:
//! - a caller charges a slot only by a CAS that expects a settled word with its key's owner
//!   byte, after reading the key word and finding its key. A settled word never comes back
//!   once changed (but for a claim that gives up, below), because every charge and every claim
//!   that settles moves the TAT forward: so the CAS succeeds only if no other key claimed the
//!   slot since the key word was read, and two keys never share a bucket, owner bytes alike
//!   or not;
//! - a caller takes a full slot for a new key by a CAS from its settled word to the same TAT
//!   with the new owner byte and the pending bit. From then on no one else writes that word:
//!   chargers and other claimers treat a pending slot as busy, and never wait for it. The
//!   claimer then looks at the rest of the window (below); if the way is clear it writes the
//!   key word and stores the settled word with the first request charged, so a claim never
//!   stays pending longer than its claimer takes to finish it. If not, it stores the old word
//!   back: nothing was granted or published, and a CAS that expected the old word may as well
//!   succeed;
//! - a key holds at most one slot, so the *hard* bound of a token bucket holds per key: callers
//!   racing on one key serialize on its slot's CAS word, and two first requests of one key
//!   that pick different slots (their clocks may disagree about which slot is full) each look
//!   for the other once their own claim is visible. A sequentially consistent fence between
//!   the claim and the look makes at least one see the other; a claimer that finds the key
//!   settled elsewhere gives up and charges that slot, one that finds another claim with the
//!   key's owner byte gives up and goes by the table-full policy, with `retry_after` zero
//!   (a claim is settled or given up within a few steps of its claimer). So does a request
//!   that finds such a claim in its scan and no settled slot of its own. Such a refusal is
//!   one of the "off by the number of racing callers" of concurrent use, never an excess
//!   grant; under [`TableFullPolicy::Admit`] those requests pass untracked, as the policy says
//!   of a full table.
//!
//! **Memory ordering.** CAS words are loaded with `Acquire` and changed with `Release`; a
//! claimer writes the key word before it stores the settled word (`Release`) and readers load
//! the key word after the CAS word, so whoever sees a settled claim sees its key. The claim's
//! CAS is `AcqRel`, so a word stored back on giving up carries the key word behind it. High
//! words are `Relaxed`, as in the token bucket. No 128-bit atomics, no locks, no spinning: a
//! caller retries only after another caller's CAS succeeded.
//!
//! **Cost.** A request for a key found in its first slot is one `mix`, a multiply, three loads
//! and one CAS. A new key scans its window once more to claim, and adds a fence, a second scan
//! and two stores to settle.
//!
//! **Time.** A `now` older than the newest grant's time counts as no time passed, as in the
//! token bucket: the request is decided at that time, and its `retry_after` or wait counts
//! from the `now` given. The table keeps one such time for all its keys, stored only when a
//! grant's `now` passes it by 1 ms, so that callers on different keys do not all write one
//! word: a `now` older by less than that is decided at itself (a bucket looks emptier, never
//! fuller).
//!
//! **Size.** `24 × N + 32` bytes: three words per slot, the newest grant's time, the shared
//! rate (16 bytes) and the policy.
//!
//! ```
//! use stanchion::{KeyedLimiter, Nanos, Reason, TableFullPolicy, TokenBucketConfig};
//!
//! let per_client = TokenBucketConfig::new(2).refill(1, Nanos::from_secs(1));
//! let limiter: KeyedLimiter<64> = KeyedLimiter::new(per_client, TableFullPolicy::Reject).unwrap();
//! let now = Nanos::from_secs(10);
//! assert!(limiter.try_acquire(7, 2, now).is_ok());
//! assert_eq!(limiter.try_acquire(7, 1, now).unwrap_err().reason, Reason::RateLimited);
//! assert!(limiter.try_acquire(8, 2, now).is_ok()); // another key, another bucket
//! ```
//!
//! Firmware keeps one in a `static`:
//!
//! ```
//! use stanchion::{KeyedLimiter, Nanos, TableFullPolicy, TokenBucketConfig};
//! static PER_PEER: KeyedLimiter<16> =
//!     match KeyedLimiter::new(TokenBucketConfig::new(5), TableFullPolicy::Admit) {
//!         Ok(limiter) => limiter,
//!         Err(_) => panic!("invalid limiter config"),
//!     };
//! assert!(PER_PEER.try_acquire(0xfeed, 5, Nanos::ZERO).is_ok());
//! ```

use core::fmt;

use crate::rng::{mix, uniform};
use crate::sync::{const_fn, fence, AtomicU64, Ordering};
use crate::token_bucket::{
    config_of, decode, prepare, prepare_u64, Gcra, Grant, OWNER_SHIFT, PENDING, TAT_BITS,
};
use crate::{ConfigError, Nanos, Reason, Rejected, TokenBucketConfig, TokenBucketSnapshot};

/// The most slots a key may live in: its start slot and the ones after it.
pub const MAX_PROBE: usize = 8;

const OWNER_MASK: u64 = !(TAT_BITS | PENDING);

/// The key of a string or byte key: 64-bit FNV-1a over the bytes (UTF-8 for strings).
///
/// Every binding hashes string and byte keys with this function, so `"user-42"` is the same
/// bucket from Python, Node and C. FNV-1a is not collision-resistant: keys an attacker chooses
/// can be made to share a bucket, which makes them share a limit, never escape it. The limiter
/// mixes the key again before it picks a slot, so FNV's weak low bits do not cluster slots.
///
/// ```
/// use stanchion::keyed_limiter::key_of_bytes;
/// assert_eq!(key_of_bytes(b""), 0xcbf2_9ce4_8422_2325); // the FNV offset basis
/// assert_eq!(key_of_bytes("a".as_bytes()), 0xaf63_dc4c_8601_ec8c);
/// assert_ne!(key_of_bytes(b"user-42"), key_of_bytes(b"user-43"));
/// ```
pub const fn key_of_bytes(bytes: &[u8]) -> u64 {
    const OFFSET_BASIS: u64 = 0xcbf2_9ce4_8422_2325;
    const PRIME: u64 = 0x0000_0100_0000_01b3;
    let mut hash = OFFSET_BASIS;
    let mut rest = bytes;
    // A slice pattern walks the bytes without indexing, in a `const fn`.
    while let [byte, tail @ ..] = rest {
        hash = (hash ^ *byte as u64).wrapping_mul(PRIME);
        rest = tail;
    }
    hash
}

/// A keyed limiter of any table size, for callers that choose `N` at run time: a binding keeps
/// a `Box<dyn KeyedTable>`, or an enum of sizes that implements it, and calls through it.
/// Each method is the [`KeyedLimiter`] method of the same name.
///
/// ```
/// use stanchion::keyed_limiter::KeyedTable;
/// use stanchion::{KeyedLimiter, Nanos, TableFullPolicy, TokenBucketConfig};
/// let small = KeyedLimiter::<4>::new(TokenBucketConfig::new(1), TableFullPolicy::Reject).unwrap();
/// let large = KeyedLimiter::<64>::new(TokenBucketConfig::new(1), TableFullPolicy::Reject).unwrap();
/// let tables: [&dyn KeyedTable; 2] = [&small, &large];
/// for table in tables {
///     assert!(table.try_acquire(7, 1, Nanos::ZERO).is_ok());
///     assert_eq!(table.active_keys(Nanos::ZERO), 1);
/// }
/// ```
pub trait KeyedTable {
    /// [`KeyedLimiter::try_acquire`].
    fn try_acquire(&self, key: u64, n: u32, now: Nanos) -> Result<(), Rejected>;
    /// [`KeyedLimiter::reserve`].
    fn reserve(&self, key: u64, n: u32, now: Nanos, max_wait: Nanos) -> Result<Nanos, Rejected>;
    /// [`KeyedLimiter::available`].
    fn available(&self, key: u64, now: Nanos) -> u64;
    /// [`KeyedLimiter::snapshot`].
    fn snapshot(&self, key: u64, now: Nanos) -> TokenBucketSnapshot;
    /// [`KeyedLimiter::active_keys`].
    fn active_keys(&self, now: Nanos) -> usize;
}

impl<const N: usize> KeyedTable for KeyedLimiter<N> {
    fn try_acquire(&self, key: u64, n: u32, now: Nanos) -> Result<(), Rejected> {
        KeyedLimiter::try_acquire(self, key, n, now)
    }
    fn reserve(&self, key: u64, n: u32, now: Nanos, max_wait: Nanos) -> Result<Nanos, Rejected> {
        KeyedLimiter::reserve(self, key, n, now, max_wait)
    }
    fn available(&self, key: u64, now: Nanos) -> u64 {
        KeyedLimiter::available(self, key, now)
    }
    fn snapshot(&self, key: u64, now: Nanos) -> TokenBucketSnapshot {
        KeyedLimiter::snapshot(self, key, now)
    }
    fn active_keys(&self, now: Nanos) -> usize {
        KeyedLimiter::active_keys(self, now)
    }
}

/// What a [`KeyedLimiter`] does with a new key when every slot it may use holds an active key.
///
/// ```
/// use stanchion::TableFullPolicy;
/// assert_eq!(TableFullPolicy::default(), TableFullPolicy::Reject);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum TableFullPolicy {
    /// Refuse with [`Reason::TableFull`]; `retry_after` is when the first of those slots
    /// frees up. Safe when keys are untrusted: a flood of new keys cannot bypass the limit.
    #[default]
    Reject,
    /// Let the call through untracked. Fails open: right when refusing a legitimate caller
    /// costs more than admitting an unlimited one.
    Admit,
}

struct Slot {
    /// The key whose bucket this is; written only by the claimer that holds the slot pending.
    key: AtomicU64,
    /// Owner byte, pending bit, and the TAT's tag and low bits.
    word: AtomicU64,
    /// The TAT's high part.
    high: AtomicU64,
}

impl Slot {
    const_fn! {
        fn new() -> Slot {
            Slot {
                key: AtomicU64::new(0),
                word: AtomicU64::new(0),
                high: AtomicU64::new(0),
            }
        }
    }
}

/// A key as the table sees it.
#[derive(Clone, Copy)]
struct Probe {
    key: u64,
    /// The owner byte, in place.
    owner: u64,
    start: usize,
}

enum Scan<'a> {
    /// The key's slot and its CAS word.
    Mine { slot: &'a Slot, word: u64 },
    /// The key has no slot; this one is full and may be claimed.
    Free {
        slot: &'a Slot,
        word: u64,
        high: u64,
    },
    /// The key has no slot and none is free; the first time one frees up.
    Full { free_at: Option<u128> },
    /// The key has no settled slot, but a slot with its owner byte is being claimed, maybe
    /// for this very key: claiming another slot could give the key two buckets.
    Claiming,
}

/// What a claimer finds in the rest of the window once its claim is visible.
enum Rival {
    /// The key is settled in another slot: charge that one.
    Holder,
    /// Another slot with the key's owner byte is being claimed, maybe for this key.
    Claiming,
}

/// `N` token buckets keyed by `u64`, sharing one config (see the [module docs](self)).
///
/// Every method takes `&self`: share it by reference, in an `Arc`, or in a `static`.
pub struct KeyedLimiter<const N: usize> {
    slots: [Slot; N],
    /// The newest `now` of a grant that the table keeps, in nanoseconds, to within
    /// [`SEEN_STEP`]: an older `now` is taken as this one.
    seen: AtomicU64,
    gcra: Gcra,
    policy: TableFullPolicy,
}

/// How far a grant's `now` must pass the kept one before it is stored. The table shares one
/// word for the newest grant's time; storing it at every grant would make every caller, on any
/// key, write one shared cache line. A `now` older than the kept one by less than this is
/// decided at itself, which sees a bucket emptier than at the newest time, never fuller.
const SEEN_STEP: u64 = 1_000_000;

impl<const N: usize> KeyedLimiter<N> {
    const PROBE: usize = if N < MAX_PROBE { N } else { MAX_PROBE };

    const_fn! {
        /// An empty table of `N` slots (at least one, checked at compile time) whose buckets
        /// follow `config`, or the first config error.
        ///
        /// ```
        /// use stanchion::{KeyedLimiter, Nanos, TableFullPolicy, TokenBucketConfig};
        /// let limiter = KeyedLimiter::<8>::new(TokenBucketConfig::new(3), TableFullPolicy::Reject).unwrap();
        /// assert_eq!(limiter.available(42, Nanos::ZERO), 3);
        /// assert!(KeyedLimiter::<8>::new(TokenBucketConfig::new(0), TableFullPolicy::Reject).is_err());
        /// ```
        pub fn new(config: TokenBucketConfig, policy: TableFullPolicy) -> Result<Self, ConfigError> {
            const { assert!(N > 0, "a KeyedLimiter needs at least one slot") };
            match config.validate() {
                Ok(()) => Ok(KeyedLimiter {
                    slots: Self::empty_slots(),
                    seen: AtomicU64::new(0),
                    gcra: Gcra::new(config.capacity, config.refill_amount, config.refill_every),
                    policy,
                }),
                Err(error) => Err(error),
            }
        }
    }

    #[cfg(not(any(loom, shuttle)))]
    const fn empty_slots() -> [Slot; N] {
        [const { Slot::new() }; N]
    }

    #[cfg(any(loom, shuttle))]
    fn empty_slots() -> [Slot; N] {
        core::array::from_fn(|_| Slot::new())
    }

    /// Takes `n` tokens from `key`'s bucket now, or says why not and when to retry.
    ///
    /// As [`TokenBucket::try_acquire`](crate::TokenBucket::try_acquire) per key: `n == 0`
    /// passes, `n > capacity` is `InsufficientCapacity`, a refusal is `RateLimited` with the
    /// exact `retry_after`. A new key that finds no free slot gets `TableFull` (with
    /// `retry_after` when the first slot it may use frees up) or passes untracked, as the
    /// policy says. A refusal takes nothing.
    ///
    /// ```
    /// use stanchion::{KeyedLimiter, Nanos, Reason, TableFullPolicy, TokenBucketConfig};
    /// let limiter = KeyedLimiter::<1>::new(TokenBucketConfig::new(1), TableFullPolicy::Reject).unwrap();
    /// assert!(limiter.try_acquire(1, 1, Nanos::ZERO).is_ok());
    /// let refused = limiter.try_acquire(2, 1, Nanos::ZERO).unwrap_err();
    /// assert_eq!((refused.reason, refused.retry_after), (Reason::TableFull, Some(Nanos::from_secs(1))));
    /// assert!(limiter.try_acquire(2, 1, Nanos::from_secs(1)).is_ok()); // key 1 is full again
    /// ```
    #[inline]
    pub fn try_acquire(&self, key: u64, n: u32, now: Nanos) -> Result<(), Rejected> {
        self.update(key, n, now, Nanos::ZERO).map(|_| ())
    }

    /// Takes `n` tokens from `key`'s bucket now, to be used at the returned `ready_at`, or
    /// refuses if that is more than `max_wait` away, as
    /// [`TokenBucket::reserve`](crate::TokenBucket::reserve) per key. A new key that finds no
    /// free slot is refused (`TableFull`) or gets `Ok(now)` untracked, as the policy says.
    ///
    /// ```
    /// use stanchion::{KeyedLimiter, Nanos, TableFullPolicy, TokenBucketConfig};
    /// let config = TokenBucketConfig::new(1).refill(1, Nanos::from_millis(100));
    /// let limiter = KeyedLimiter::<16>::new(config, TableFullPolicy::Reject).unwrap();
    /// let wait = Nanos::from_secs(1);
    /// assert_eq!(limiter.reserve(9, 1, Nanos::ZERO, wait), Ok(Nanos::ZERO));
    /// assert_eq!(limiter.reserve(9, 1, Nanos::ZERO, wait), Ok(Nanos::from_millis(100)));
    /// ```
    #[inline]
    pub fn reserve(
        &self,
        key: u64,
        n: u32,
        now: Nanos,
        max_wait: Nanos,
    ) -> Result<Nanos, Rejected> {
        self.update(key, n, now, max_wait)
    }

    /// Whole tokens `key` could take at `now` (`capacity` for a key without a slot).
    ///
    /// ```
    /// use stanchion::{KeyedLimiter, Nanos, TableFullPolicy, TokenBucketConfig};
    /// let limiter = KeyedLimiter::<4>::new(TokenBucketConfig::new(5), TableFullPolicy::Reject).unwrap();
    /// limiter.try_acquire(3, 2, Nanos::ZERO).unwrap();
    /// assert_eq!((limiter.available(3, Nanos::ZERO), limiter.available(4, Nanos::ZERO)), (3, 5));
    /// ```
    pub fn available(&self, key: u64, now: Nanos) -> u64 {
        self.gcra.available(self.find(key), self.at(now))
    }

    /// `key`'s bucket at `now`, as [`TokenBucket::snapshot`](crate::TokenBucket::snapshot).
    ///
    /// ```
    /// use stanchion::{KeyedLimiter, Nanos, TableFullPolicy, TokenBucketConfig};
    /// let limiter = KeyedLimiter::<4>::new(TokenBucketConfig::new(2), TableFullPolicy::Reject).unwrap();
    /// limiter.try_acquire(3, 2, Nanos::ZERO).unwrap();
    /// assert_eq!(limiter.snapshot(3, Nanos::ZERO).full_at, Nanos::from_secs(2));
    /// ```
    pub fn snapshot(&self, key: u64, now: Nanos) -> TokenBucketSnapshot {
        TokenBucketSnapshot::seen_at(self.gcra, self.find(key), now, self.at(now))
    }

    /// How many slots hold an active key (one whose bucket is not full) at `now`.
    ///
    /// ```
    /// use stanchion::{KeyedLimiter, Nanos, TableFullPolicy, TokenBucketConfig};
    /// let limiter = KeyedLimiter::<4>::new(TokenBucketConfig::new(2), TableFullPolicy::Reject).unwrap();
    /// limiter.try_acquire(1, 1, Nanos::ZERO).unwrap();
    /// limiter.try_acquire(2, 1, Nanos::ZERO).unwrap();
    /// assert_eq!(limiter.active_keys(Nanos::ZERO), 2);
    /// assert_eq!(limiter.active_keys(Nanos::from_secs(1)), 0);
    /// ```
    pub fn active_keys(&self, now: Nanos) -> usize {
        let now = self.at(now);
        self.slots
            .iter()
            .filter(|slot| {
                let word = slot.word.load(Ordering::Acquire);
                !self
                    .gcra
                    .is_full(decode(word, slot.high.load(Ordering::Relaxed)), now)
            })
            .count()
    }

    /// The shared bucket config, with the rate in lowest terms.
    ///
    /// ```
    /// use stanchion::{KeyedLimiter, TableFullPolicy, TokenBucketConfig};
    /// let limiter = KeyedLimiter::<4>::new(TokenBucketConfig::new(2), TableFullPolicy::Admit).unwrap();
    /// assert_eq!(limiter.config(), TokenBucketConfig::new(2));
    /// ```
    pub fn config(&self) -> TokenBucketConfig {
        config_of(self.gcra)
    }

    /// What happens to new keys when the table is full.
    ///
    /// ```
    /// use stanchion::{KeyedLimiter, TableFullPolicy, TokenBucketConfig};
    /// let limiter = KeyedLimiter::<4>::new(TokenBucketConfig::new(2), TableFullPolicy::Admit).unwrap();
    /// assert_eq!(limiter.policy(), TableFullPolicy::Admit);
    /// ```
    pub fn policy(&self) -> TableFullPolicy {
        self.policy
    }

    /// The time a caller at `now` sees the table at: `now`, or the newest grant's time kept if
    /// that is later (a clock that stepped back).
    #[inline]
    fn at(&self, now: Nanos) -> Nanos {
        now.max(Nanos::new(self.seen.load(Ordering::Relaxed)))
    }

    /// Keeps `now` as the newest grant's time once it is [`SEEN_STEP`] past `seen`, the time
    /// loaded before the grant. A plain store: racing grants may leave an older one of their
    /// times, which only makes a later, older `now` see less refill, never more.
    #[inline]
    fn saw(&self, now: Nanos, seen: u64) {
        if now.as_nanos() >= seen.saturating_add(SEEN_STEP) {
            self.seen.store(now.as_nanos(), Ordering::Relaxed);
        }
    }

    #[inline]
    fn probe(key: u64) -> Probe {
        let mixed = mix(key);
        Probe {
            key,
            // The low byte, while `uniform` picks the start from the high bits: keys that
            // share a window still differ in owner byte 255 times in 256.
            owner: (mixed & 0xff) << OWNER_SHIFT,
            start: uniform(mixed, 0, (N as u64).saturating_sub(1)) as usize,
        }
    }

    fn slot(&self, start: usize, step: usize) -> Option<&Slot> {
        // start < N and step < N, so one subtraction brings the sum back into the table.
        let index = start.wrapping_add(step);
        let index = if index >= N {
            index.wrapping_sub(N)
        } else {
            index
        };
        self.slots.get(index)
    }

    /// Whether the slot whose CAS word is `word` holds `probe`'s key, settled.
    fn matches(slot: &Slot, word: u64, probe: Probe) -> bool {
        // The owner byte settles most misses without touching the key word, which is read
        // after the CAS word: a settled claim wrote its key before it settled.
        word & !TAT_BITS == probe.owner && slot.key.load(Ordering::Acquire) == probe.key
    }

    /// The key's TAT, or 0 (a full bucket) if it has no slot.
    fn find(&self, key: u64) -> u128 {
        let probe = Self::probe(key);
        for step in 0..Self::PROBE {
            let Some(slot) = self.slot(probe.start, step) else {
                break;
            };
            let word = slot.word.load(Ordering::Acquire);
            if Self::matches(slot, word, probe) {
                return decode(word, slot.high.load(Ordering::Relaxed));
            }
        }
        // A claim in progress for the key has granted nothing yet: its bucket is still full.
        0
    }

    fn scan(&self, probe: Probe, now: Nanos) -> Scan<'_> {
        let mut free = None;
        let mut free_at: Option<u128> = None;
        let mut claiming = false;
        for step in 0..Self::PROBE {
            let Some(slot) = self.slot(probe.start, step) else {
                break;
            };
            let word = slot.word.load(Ordering::Acquire);
            if Self::matches(slot, word, probe) {
                return Scan::Mine { slot, word };
            }
            let pending = word & PENDING != 0;
            claiming |= pending && word & OWNER_MASK == probe.owner;
            if free.is_none() {
                let high = slot.high.load(Ordering::Relaxed);
                let tat = decode(word, high);
                // A pending slot is its claimer's until it settles or gives up: busy,
                // whatever its TAT, which is still the old key's and says it frees up soon.
                if !pending && self.gcra.is_full(tat, now) {
                    free = Some(Scan::Free { slot, word, high });
                } else {
                    let at = self.gcra.full_at(tat, now);
                    free_at = Some(free_at.map_or(at, |first| first.min(at)));
                }
            }
        }
        if claiming {
            return Scan::Claiming;
        }
        free.unwrap_or(Scan::Full { free_at })
    }

    /// The common request, a key settled in its start slot that passes at once in 64-bit
    /// numbers, in a short loop that may be inlined into the caller: the first step of
    /// [`KeyedLimiter::scan`] and of [`KeyedLimiter::charge`], decided by `Gcra::admit`
    /// instead of `Gcra::decide`. Anything else goes to [`KeyedLimiter::update_table`], which
    /// looks again from the start.
    ///
    /// A `now` older than the newest grant's time kept counts as no time passed: the request
    /// is decided at that time, and what it reports counts from the `now` given, as
    /// [`Gcra::decide_seen`] does for the token bucket.
    #[inline]
    fn update(&self, key: u64, n: u32, now: Nanos, max_wait: Nanos) -> Result<Nanos, Rejected> {
        let seen = self.seen.load(Ordering::Relaxed);
        let at = now.max(Nanos::new(seen));
        let behind = at.saturating_sub(now);
        let answer = match self.update_at(key, n, at, max_wait) {
            // `ready_at >= at`, so this is at least `now`.
            Ok(ready_at) => Ok(ready_at.saturating_sub(behind)),
            Err(refused) => Err(Rejected::new(
                refused.reason,
                refused
                    .retry_after
                    .map(|after| after.saturating_add(behind)),
            )),
        };
        if answer.is_ok() {
            self.saw(now, seen);
        }
        answer
    }

    /// [`KeyedLimiter::update`] decided at `now`, the table's time.
    #[inline]
    fn update_at(&self, key: u64, n: u32, now: Nanos, max_wait: Nanos) -> Result<Nanos, Rejected> {
        let probe = Self::probe(key);
        if let (Some(admit), Some(slot)) = (self.gcra.admit(n, now), self.slots.get(probe.start)) {
            let mut word = slot.word.load(Ordering::Acquire);
            // `matches`, spelled out: the owner byte and pending bit in one compare.
            while word & !TAT_BITS == probe.owner && slot.key.load(Ordering::Acquire) == key {
                let high = slot.high.load(Ordering::Relaxed);
                let Some(tat) = admit.tat(word, high) else {
                    break;
                };
                let next = prepare_u64(&slot.high, high, tat) | probe.owner;
                match slot.word.compare_exchange_weak(
                    word,
                    next,
                    Ordering::Release,
                    Ordering::Acquire,
                ) {
                    Ok(_) => return Ok(now),
                    Err(actual) => word = actual,
                }
            }
        }
        self.update_table(probe, n, now, max_wait)
    }

    /// Every request the short loop of [`KeyedLimiter::update`] does not settle: scan the
    /// window, then charge, claim or refuse.
    #[inline(never)]
    fn update_table(
        &self,
        probe: Probe,
        n: u32,
        now: Nanos,
        max_wait: Nanos,
    ) -> Result<Nanos, Rejected> {
        // Requests that need no bucket never touch the table.
        if n == 0 {
            return Ok(now);
        }
        if n > self.gcra.capacity() {
            return Err(Rejected::new(Reason::InsufficientCapacity, None));
        }
        loop {
            let outcome = match self.scan(probe, now) {
                Scan::Mine { slot, word } => self.charge(probe, slot, word, n, now, max_wait),
                Scan::Free { slot, word, high } => {
                    self.claim(probe, slot, word, high, n, now, max_wait)
                }
                Scan::Full { free_at } => return self.table_full(now, free_at),
                Scan::Claiming => return self.claim_in_progress(now),
            };
            // `None`: another caller's CAS changed the slot under us; look again.
            if let Some(result) = outcome {
                return result;
            }
        }
    }

    fn charge(
        &self,
        probe: Probe,
        slot: &Slot,
        mut word: u64,
        n: u32,
        now: Nanos,
        max_wait: Nanos,
    ) -> Option<Result<Nanos, Rejected>> {
        loop {
            let high = slot.high.load(Ordering::Relaxed);
            let Grant { ready_at, tat } =
                match self.gcra.decide(decode(word, high), n, now, max_wait) {
                    Ok(grant) => grant,
                    Err(refused) => return Some(Err(refused)),
                };
            let Some(tat) = tat else {
                return Some(Ok(ready_at));
            };
            let next = prepare(&slot.high, high, tat) | probe.owner;
            match slot
                .word
                .compare_exchange_weak(word, next, Ordering::Release, Ordering::Acquire)
            {
                Ok(_) => return Some(Ok(ready_at)),
                Err(actual) if Self::matches(slot, actual, probe) => word = actual,
                Err(_) => return None,
            }
        }
    }

    /// Takes the full slot whose CAS word is `word` for `probe`'s key and charges its first
    /// request, unless the key turns out to hold or be claiming another slot.
    #[allow(clippy::too_many_arguments)]
    fn claim(
        &self,
        probe: Probe,
        slot: &Slot,
        word: u64,
        high: u64,
        n: u32,
        now: Nanos,
        max_wait: Nanos,
    ) -> Option<Result<Nanos, Rejected>> {
        // The bucket is full, so this is a new key's first request: it passes without waiting.
        let Grant { ready_at, tat } = match self.gcra.decide(decode(word, high), n, now, max_wait) {
            Ok(grant) => grant,
            Err(refused) => return Some(Err(refused)),
        };
        let Some(tat) = tat else {
            return Some(Ok(ready_at));
        };
        // Pending with the TAT unchanged: the old key's chargers and other claimers now fail
        // their CAS on this word, and nobody else touches it until this claimer stores it
        // again. Acquire, so that whoever reads a restored word sees the key word behind it.
        let pending = (word & TAT_BITS) | probe.owner | PENDING;
        if slot
            .word
            .compare_exchange(word, pending, Ordering::AcqRel, Ordering::Relaxed)
            .is_err()
        {
            return None;
        }
        // Two claims of one key in different slots each look for the other after making their
        // own visible; the fences order the two, so at least one sees the other and gives up.
        fence(Ordering::SeqCst);
        match self.rival(probe, slot) {
            None => {
                slot.key.store(probe.key, Ordering::Relaxed);
                // Release: whoever sees the settled word sees the key stored before it.
                let next = prepare(&slot.high, high, tat) | probe.owner;
                slot.word.store(next, Ordering::Release);
                Some(Ok(ready_at))
            }
            Some(rival) => {
                // Nothing was granted or published: the slot goes back exactly as it was, and
                // a CAS that expected it before the claim may still succeed.
                slot.word.store(word, Ordering::Release);
                match rival {
                    Rival::Holder => None,
                    Rival::Claiming => Some(self.claim_in_progress(now)),
                }
            }
        }
    }

    /// What the rest of `probe`'s window holds for its key, seen by a claimer of `mine`.
    fn rival(&self, probe: Probe, mine: &Slot) -> Option<Rival> {
        for step in 0..Self::PROBE {
            let Some(slot) = self.slot(probe.start, step) else {
                break;
            };
            if core::ptr::eq(slot, mine) {
                continue;
            }
            let word = slot.word.load(Ordering::Acquire);
            if word & PENDING != 0 {
                if word & OWNER_MASK == probe.owner {
                    return Some(Rival::Claiming);
                }
            } else if Self::matches(slot, word, probe) {
                return Some(Rival::Holder);
            }
        }
        None
    }

    /// A key that may be mid-claim in another caller's hands has no bucket to judge it by
    /// yet, and waiting for that caller is not an option: the table-full policy decides, and
    /// a refusal says to retry at once, since the claim settles or gives up within a few of
    /// its claimer's steps.
    fn claim_in_progress(&self, now: Nanos) -> Result<Nanos, Rejected> {
        self.table_full(now, Some(now.as_nanos() as u128))
    }

    fn table_full(&self, now: Nanos, free_at: Option<u128>) -> Result<Nanos, Rejected> {
        match self.policy {
            TableFullPolicy::Admit => Ok(now),
            TableFullPolicy::Reject => {
                let retry_after = free_at
                    .filter(|at| *at <= u64::MAX as u128)
                    .map(|at| Nanos::new(at as u64).saturating_sub(now));
                Err(Rejected::new(Reason::TableFull, retry_after))
            }
        }
    }
}

impl<const N: usize> fmt::Debug for KeyedLimiter<N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyedLimiter")
            .field("slots", &N)
            .field("config", &self.config())
            .field("policy", &self.policy)
            .finish()
    }
}
