//! Forms as the center prints them: the template file (`phieu-form/1`) that carries a form's geometry and
//! meaning, and the renderer that draws it (vector PDF at true size, or a raster page).

pub mod author;
pub mod pdf;
pub mod render;
pub mod template;
