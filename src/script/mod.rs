pub mod lib;
