//! Pub/sub commands: SUBSCRIBE UNSUBSCRIBE PSUBSCRIBE PUNSUBSCRIBE PUBLISH,
//! the sharded SSUBSCRIBE SUNSUBSCRIBE SPUBLISH, PUBSUB introspection, and
//! which commands a RESP2 client may run while subscribed.
//!
//! The subscription state and message delivery live in
//! [`crate::server::pubsub`]. Confirmations are pushes (arrays in RESP2):
//! like Redis they reach the client even under CLIENT REPLY OFF/SKIP.

use super::Ctx;
use super::Row;
use super::spec::redis as r;
use crate::error::{CmdError, CmdResult};
use crate::protocol::Reply;
use crate::server::pubsub::{Kind, Topics};
use crate::util::glob::glob_match;
use bytes::Bytes;

/// The pub/sub rows of the command table.
#[rustfmt::skip]
pub const ROWS: &[Row] = &[
    Row::new(&r::SUBSCRIBE, subscribe).with(super::hooks::SUBSCRIBED),
    Row::new(&r::UNSUBSCRIBE, unsubscribe).with(super::hooks::SUBSCRIBED),
    Row::new(&r::PSUBSCRIBE, psubscribe).with(super::hooks::SUBSCRIBED),
    Row::new(&r::PUNSUBSCRIBE, punsubscribe).with(super::hooks::SUBSCRIBED),
    Row::new(&r::PUBLISH, publish),
    Row::new(&r::SSUBSCRIBE, ssubscribe).with(super::hooks::SUBSCRIBED),
    Row::new(&r::SUNSUBSCRIBE, sunsubscribe).with(super::hooks::SUBSCRIBED),
    Row::new(&r::SPUBLISH, spublish),
    Row::new(&r::PUBSUB, super::container),
    Row::new(&r::PUBSUB_CHANNELS, channels),
    Row::new(&r::PUBSUB_NUMSUB, numsub),
    Row::new(&r::PUBSUB_NUMPAT, numpat),
    Row::new(&r::PUBSUB_SHARDCHANNELS, shardchannels),
    Row::new(&r::PUBSUB_SHARDNUMSUB, shardnumsub),
    Row::new(&r::PUBSUB_HELP, help),
];

fn subscribe_kind(ctx: &mut Ctx, kind: Kind, topics: &[Bytes]) -> CmdResult {
    let replies = topics
        .iter()
        .map(|t| ctx.srv.subscribe(ctx.client, kind, t))
        .collect();
    Ok(Reply::Many(replies))
}

fn unsubscribe_kind(ctx: &mut Ctx, kind: Kind, topics: &[Bytes]) -> CmdResult {
    if topics.is_empty() {
        return Ok(Reply::Many(ctx.srv.unsubscribe_all(ctx.client, kind)));
    }
    let replies = topics
        .iter()
        .map(|t| ctx.srv.unsubscribe(ctx.client, kind, t))
        .collect();
    Ok(Reply::Many(replies))
}

/// SUBSCRIBE channel [channel ...]
pub fn subscribe(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    subscribe_kind(ctx, Kind::Channel, &args[1..])
}

/// UNSUBSCRIBE [channel ...]
pub fn unsubscribe(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    unsubscribe_kind(ctx, Kind::Channel, &args[1..])
}

/// PSUBSCRIBE pattern [pattern ...]
pub fn psubscribe(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    subscribe_kind(ctx, Kind::Pattern, &args[1..])
}

/// PUNSUBSCRIBE [pattern ...]
pub fn punsubscribe(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    unsubscribe_kind(ctx, Kind::Pattern, &args[1..])
}

/// SSUBSCRIBE shardchannel [shardchannel ...]
pub fn ssubscribe(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    subscribe_kind(ctx, Kind::Shard, &args[1..])
}

/// SUNSUBSCRIBE [shardchannel ...]
pub fn sunsubscribe(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    unsubscribe_kind(ctx, Kind::Shard, &args[1..])
}

/// PUBLISH channel message
pub fn publish(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let n = ctx.srv.publish_to(
        Some(ctx.client),
        Kind::Channel,
        args[1].clone(),
        args[2].clone(),
    );
    Ok(Reply::Int(n as i64))
}

/// SPUBLISH shardchannel message
pub fn spublish(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let n = ctx.srv.publish_to(
        Some(ctx.client),
        Kind::Shard,
        args[1].clone(),
        args[2].clone(),
    );
    Ok(Reply::Int(n as i64))
}

/// Topics matching the optional pattern in `args[2]`; more arguments are
/// a syntax error, as in Redis.
fn list_topics(topics: &Topics, args: &[Bytes]) -> CmdResult {
    if args.len() > 3 {
        return Err(CmdError::subcommand_syntax(&args[1], &args[0]));
    }
    let pat = args.get(2);
    let names = topics
        .keys()
        .filter(|t| pat.is_none_or(|p| glob_match(p, t, false)))
        .map(|t| Reply::Bulk(t.clone()))
        .collect();
    Ok(Reply::Array(names))
}

/// `[topic, subscribers, ...]` for each topic in `args[2..]`.
fn count_subscribers(topics: &Topics, args: &[Bytes]) -> CmdResult {
    let mut out = Vec::with_capacity((args.len() - 2) * 2);
    for t in &args[2..] {
        out.push(Reply::Bulk(t.clone()));
        out.push(Reply::Int(
            topics.get(&t[..]).map_or(0, |ids| ids.len()) as i64
        ));
    }
    Ok(Reply::Array(out))
}

/// PUBSUB CHANNELS [pattern]
pub fn channels(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    list_topics(&ctx.srv.pubsub.channels, args)
}

/// PUBSUB SHARDCHANNELS [pattern]
pub fn shardchannels(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    list_topics(&ctx.srv.pubsub.shard, args)
}

/// PUBSUB NUMSUB [channel ...]
pub fn numsub(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    count_subscribers(&ctx.srv.pubsub.channels, args)
}

/// PUBSUB SHARDNUMSUB [shardchannel ...]
pub fn shardnumsub(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    count_subscribers(&ctx.srv.pubsub.shard, args)
}

/// PUBSUB NUMPAT: the number of distinct patterns subscribed to.
pub fn numpat(ctx: &mut Ctx, _: &[Bytes]) -> CmdResult {
    Ok(Reply::Int(ctx.srv.pubsub.patterns.len() as i64))
}

/// PUBSUB HELP (Redis 7.0 words its HELP line differently from the other
/// containers, hence no shared helper).
pub fn help(_: &mut Ctx, _: &[Bytes]) -> CmdResult {
    const LINES: &[&str] = &[
        "PUBSUB <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
        "CHANNELS [<pattern>]",
        "    Return the currently active channels matching a <pattern> (default: '*').",
        "NUMPAT",
        "    Return number of subscriptions to patterns.",
        "NUMSUB [<channel> ...]",
        "    Return the number of subscribers for the specified channels, excluding",
        "    pattern subscriptions(default: no channels).",
        "SHARDCHANNELS [<pattern>]",
        "    Return the currently active shard level channels matching a <pattern> (default: '*').",
        "SHARDNUMSUB [<shardchannel> ...]",
        "    Return the number of subscribers for the specified shard level channel(s)",
        "HELP",
        "    Prints this help.",
    ];
    Ok(Reply::Array(
        LINES.iter().map(|l| Reply::status(l)).collect(),
    ))
}
