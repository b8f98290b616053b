//! Concurrent calls to standalone Redis, sent together.
//!
//! redis-rs's multiplexed connection writes what its queue holds whenever its driver
//! task runs. Under tokio's multi-thread scheduler a request that queues a command
//! wakes that driver into the worker's LIFO slot, so the driver runs next and writes
//! that one command: one `write(2)` per request on our side, and one read, one
//! reply and one write per command in Redis (`bench/run.sh` counted 0.89 `writev`
//! per request, and twice actix-session's Redis CPU per `/read`, whose
//! current-thread runtime has no LIFO slot).
//!
//! The batcher sits in front of it. It takes the first queued call, yields once so
//! every other task that is ready runs first (and queues its own call), then hands
//! everything queued to the connection as one pipeline: one write here, one read
//! and one write in Redis. A lone call waits one scheduler pass longer, no timer is
//! involved, and under load the batches grow by themselves.
//!
//! Each call keeps its own reply: a pipeline is not a transaction, an error reply
//! to one command is that command's answer only, and a lost connection fails every
//! call of the batch (the connection manager then reconnects).

use redis::aio::{ConnectionLike, ConnectionManager};
use redis::{Cmd, RedisError, RedisResult, Value};
use tokio::sync::{mpsc, oneshot};

/// The most calls sent in one pipeline.
const MOST: usize = 256;

/// One queued call and where its reply goes.
struct Job {
    cmd: Cmd,
    reply: oneshot::Sender<RedisResult<Value>>,
}

/// The sending side of the batcher; cheap to clone. The batcher task ends when the
/// last clone is dropped.
#[derive(Clone)]
pub(crate) struct Batcher {
    jobs: mpsc::UnboundedSender<Job>,
}

impl Batcher {
    /// Starts the batcher task on the current tokio runtime (where the connection
    /// manager runs its own).
    pub(crate) fn start(conn: ConnectionManager) -> Self {
        let (jobs, queue) = mpsc::unbounded_channel();
        tokio::spawn(drive(conn, queue));
        Self { jobs }
    }

    /// Sends one command in the next batch and waits for its reply (which may be a
    /// [`Value::ServerError`]).
    pub(crate) async fn call(&self, cmd: Cmd) -> RedisResult<Value> {
        let (reply, answer) = oneshot::channel();
        self.jobs.send(Job { cmd, reply }).map_err(|_| stopped())?;
        answer.await.map_err(|_| stopped())?
    }
}

/// The batcher task: one batch per pass of the scheduler.
async fn drive(conn: ConnectionManager, mut queue: mpsc::UnboundedReceiver<Job>) {
    while let Some(first) = queue.recv().await {
        tokio::task::yield_now().await;
        let mut batch = vec![first];
        while batch.len() < MOST {
            match queue.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        // Sent from its own task, so the next batch need not wait for this reply.
        tokio::spawn(send(conn.clone(), batch));
    }
}

/// Sends a batch and hands each call its reply.
async fn send(mut conn: ConnectionManager, mut batch: Vec<Job>) {
    if batch.len() == 1 {
        if let Some(job) = batch.pop() {
            let reply = conn.req_packed_command(&job.cmd).await;
            let _ = job.reply.send(reply);
        }
        return;
    }
    let mut pipe = redis::pipe();
    let mut replies = Vec::with_capacity(batch.len());
    for job in batch {
        pipe.add_command(job.cmd);
        replies.push(job.reply);
    }
    // A caller that gave up (its time limit passed) dropped its receiver: ignored.
    match conn.req_packed_commands(&pipe, 0, replies.len()).await {
        Ok(values) => {
            let mut values = values.into_iter();
            for reply in replies {
                let value = values.next().ok_or_else(short_reply);
                let _ = reply.send(value);
            }
        }
        Err(err) => {
            for reply in replies {
                let _ = reply.send(Err(err.clone()));
            }
        }
    }
}

/// The batcher task is gone (its runtime shut down).
fn stopped() -> RedisError {
    RedisError::from(std::io::Error::new(
        std::io::ErrorKind::BrokenPipe,
        "the Redis batcher task stopped",
    ))
}

/// The server answered a pipeline with fewer replies than commands.
fn short_reply() -> RedisError {
    RedisError::from(std::io::Error::new(
        std::io::ErrorKind::UnexpectedEof,
        "Redis answered a pipeline with fewer replies than commands",
    ))
}
