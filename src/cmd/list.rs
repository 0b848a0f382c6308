//! List commands (Redis's t_list): pushes, pops, ranges, LPOS, LMOVE/LMPOP and the blocking BLPOP family.

use super::Row;

/// This family's rows of the command table.
#[rustfmt::skip]
pub const ROWS: &[Row] = &[
];
