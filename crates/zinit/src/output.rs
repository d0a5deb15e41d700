//! Printing results: YAML for people (as zinit always has), JSON for scripts.

use serde::Serialize;

pub fn print<T: Serialize>(value: &T, json: bool) -> Result<(), String> {
    let value = serde_json::to_value(value).map_err(|e| format!("cannot render result: {e}"))?;
    if json {
        println!("{value}");
    } else {
        print!("{}", zinit_proto::yaml::to_yaml(&value));
    }
    Ok(())
}
