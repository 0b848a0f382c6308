//! Placeholder until the module is written.

/// Registers nothing yet.
pub fn register(_lua: &mlua::Lua) -> mlua::Result<()> {
    Ok(())
}
