use persistdict::persist_cache;

#[persist_cache(ignore(client))]
fn f((client, x): (u8, u32)) -> u32 {
    let _ = client;
    x
}

fn main() {
    let _ = f((1, 2));
}
