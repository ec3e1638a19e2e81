//! The renderings of a report: Markdown, terminal text, SVG charts, and [`mod@write`], which puts a
//! finished run on disk. Renderers read the model and print; they compute no statistics.

pub mod markdown;
pub mod profile;
pub mod svg;
pub mod write;
