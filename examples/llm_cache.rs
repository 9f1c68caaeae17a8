//! An async "remote call" cached with `Result`, `ignore(client)` and expiry.
#![allow(clippy::print_stdout)]

use persistdict::persist_cache;

/// Stands for an HTTP client: not serializable, and not part of the key.
struct Client {
    calls: std::sync::atomic::AtomicUsize,
}

#[persist_cache(db = "target/persistdict-llm", expire_days = 7, ignore(client))]
async fn complete(client: &Client, prompt: String) -> Result<String, String> {
    client.calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    if prompt.is_empty() {
        return Err("empty prompt".into()); // errors are not cached
    }
    Ok(format!("completion of {prompt:?}"))
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let client = Client { calls: Default::default() };
    for prompt in ["hi", "hi", ""] {
        println!("{:?}", complete(&client, prompt.to_string()).await);
    }
    println!("remote calls made: {}", client.calls.load(std::sync::atomic::Ordering::SeqCst));
}
