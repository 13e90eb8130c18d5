//! The guard around every Redis call: a timeout, and a core circuit breaker so that a Redis
//! that is down costs a refusal from memory instead of a timeout per call.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use redis::RedisResult;
use stanchion::{BreakerConfig, CircuitBreaker, ConfigError, Nanos, Outcome};

use crate::timer::{within, Timer};
use crate::Error;

/// One connection's guard: the call timeout, the breaker and the clock the breaker reads.
pub(crate) struct Guard {
    breaker: CircuitBreaker,
    timeout: Nanos,
    timer: Option<Arc<dyn Timer>>,
    epoch: Instant,
}

impl Guard {
    /// A guard for calls bounded by `timeout`, with `breaker` or, when `None`, the core's
    /// breaker for that timeout. A seed of 0 is replaced by one from the operating system, so
    /// the processes of a fleet do not probe in step.
    pub(crate) fn new(
        timeout: Nanos,
        breaker: Option<BreakerConfig>,
        timer: Option<Arc<dyn Timer>>,
    ) -> Result<Guard, ConfigError> {
        stanchion::fleet::check_timeout(timeout)?;
        let mut breaker = breaker.unwrap_or(stanchion::fleet::connection_breaker_for(timeout));
        if breaker.seed == 0 {
            let mut seed = [0u8; 8];
            // Without OS randomness the seed stays 0: jitter in step, still correct.
            let _ = getrandom::fill(&mut seed);
            breaker.seed = u64::from_le_bytes(seed);
        }
        Ok(Guard {
            breaker: CircuitBreaker::new(breaker)?,
            timeout,
            timer,
            epoch: Instant::now(),
        })
    }

    pub(crate) fn set_timer(&mut self, timer: Arc<dyn Timer>) {
        self.timer = Some(timer);
    }

    pub(crate) fn breaker(&self) -> &CircuitBreaker {
        &self.breaker
    }

    /// Sleeps `duration` on the timer; `false` at once when there is none.
    pub(crate) async fn sleep(&self, duration: Nanos) -> bool {
        match &self.timer {
            Some(timer) => {
                timer.sleep(Duration::from_nanos(duration.as_nanos())).await;
                true
            }
            None => false,
        }
    }

    /// Monotonic time since the guard was made, the breaker's clock.
    pub(crate) fn now(&self) -> Nanos {
        Nanos::new(u64::try_from(self.epoch.elapsed().as_nanos()).unwrap_or(u64::MAX))
    }

    /// Runs `call` if the breaker admits it, bounded by the timeout. Any answer from Redis is
    /// a success for the breaker, error replies included, except those of
    /// [`stanchion::fleet::UNAVAILABLE_REPLIES`]; those, connection errors and timeouts are
    /// failures. The errors it returns
    /// are the ones [`Error::is_unavailable`] accepts.
    pub(crate) async fn run<T, F>(&self, call: impl FnOnce() -> F) -> Result<T, Error>
    where
        F: Future<Output = RedisResult<T>>,
    {
        self.run_for(Nanos::ZERO, call).await
    }

    /// [`run`](Guard::run) for a call the server itself holds for up to `held` (a `WAIT`):
    /// the timeout counts from when the server would answer.
    pub(crate) async fn run_for<T, F>(
        &self,
        held: Nanos,
        call: impl FnOnce() -> F,
    ) -> Result<T, Error>
    where
        F: Future<Output = RedisResult<T>>,
    {
        let permit = self
            .breaker
            .try_acquire(self.now())
            .map_err(Error::BreakerOpen)?;
        let answer = match &self.timer {
            Some(timer) => {
                let limit = Duration::from_nanos(self.timeout.saturating_add(held).as_nanos());
                within(call(), timer.sleep(limit)).await
            }
            None => Some(call().await),
        };
        match answer {
            Some(Ok(value)) => {
                permit.record(Outcome::Success, self.now());
                Ok(value)
            }
            // The server answered, with an error waiting will not change.
            Some(Err(error))
                if error
                    .code()
                    .is_some_and(|code| !stanchion::fleet::is_unavailable_reply(code)) =>
            {
                permit.record(Outcome::Success, self.now());
                Err(Error::Reply(error))
            }
            Some(Err(error)) => {
                permit.record(Outcome::Failure, self.now());
                Err(Error::Redis(error))
            }
            None => {
                permit.record(Outcome::Failure, self.now());
                Err(Error::TimedOut {
                    after: self.timeout.saturating_add(held),
                })
            }
        }
    }
}

impl std::fmt::Debug for Guard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Guard")
            .field("breaker", &self.breaker)
            .field("timeout", &self.timeout)
            .field("timer", &self.timer.is_some())
            .finish()
    }
}
