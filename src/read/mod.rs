//! The reading stages, in the order a page goes through them: [`load`] → [`register`] → [`identify`] (with the
//! table-rule verification) → [`marks`] → [`codes`] → [`validate`]. Each stage is a function from a typed input
//! to a typed output with an `*Options` struct whose `Default` is the setting we ship; [`page`] chains them for
//! one page.

pub mod codes;
pub mod identify;
pub mod load;
pub mod marks;
pub mod page;
pub mod register;
pub mod validate;
