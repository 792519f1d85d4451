//! Where argon2 runs. One hash or verification is tens of milliseconds of CPU: on the async
//! runtime's threads it stalled every other request (16 parallel bad logins took
//! `/api/v2.0/ping` from 0.5 ms to 100–300 ms). So each runs on a blocking thread, and only half
//! the cores' worth at once: the others stay free for requests, and a flood of logins waits its
//! turn without holding a thread.

use std::sync::Arc;

use tokio::sync::Semaphore;

use crate::password;

pub(crate) struct Hashing {
    permits: Arc<Semaphore>,
}

impl Hashing {
    pub(crate) fn new() -> Hashing {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        Hashing { permits: Arc::new(Semaphore::new((cores / 2).max(1))) }
    }

    pub(crate) async fn hash(&self, password: &str) -> String {
        let password = password.to_owned();
        self.run(move || password::hash(&password)).await
    }

    pub(crate) async fn verify(&self, hash: &str, password: &str) -> bool {
        let (hash, password) = (hash.to_owned(), password.to_owned());
        self.run(move || password::verify(&hash, &password)).await
    }

    async fn run<T: Send + 'static>(&self, work: impl FnOnce() -> T + Send + 'static) -> T {
        let _permit = self.permits.acquire().await.expect("the semaphore is never closed");
        tokio::task::spawn_blocking(work).await.expect("argon2 does not panic")
    }
}
