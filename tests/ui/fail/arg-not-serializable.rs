use persistdict::persist_cache;

struct Client;

#[persist_cache]
fn f(client: Client, x: u32) -> u32 { let _ = client; x }

fn main() { let _ = f(Client, 1); }
