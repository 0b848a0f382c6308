//! The Lua libraries Redis bundles (cjson, cmsgpack, bit, struct).

/// Installs the bundled libraries as globals of `lua`.
pub fn register_all(_lua: &mlua::Lua) -> mlua::Result<()> {
    Ok(())
}
