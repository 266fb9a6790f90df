//! The small part of XML both XML formats (GPX, KML) need, through quick-xml's writer: the
//! declaration, start and end tags with escaped attributes, and elements holding escaped text.
//! quick-xml escapes `<`, `>`, `&`, `'` and `"` in text and attribute values alike.

use std::io;

use quick_xml::Writer;
use quick_xml::events::{BytesDecl, BytesEnd, BytesStart, BytesText, Event};

/// Appends `<?xml version="1.0" encoding="UTF-8"?>` and a line break.
pub(crate) fn declaration(out: &mut Vec<u8>) -> io::Result<()> {
    let decl = BytesDecl::new("1.0", Some("UTF-8"), None);
    Writer::new(&mut *out).write_event(Event::Decl(decl))?;
    out.push(b'\n');
    Ok(())
}

/// Appends a start tag with its attributes.
pub(crate) fn start(out: &mut Vec<u8>, name: &str, attributes: &[(&str, &str)]) -> io::Result<()> {
    let tag = BytesStart::new(name).with_attributes(attributes.iter().copied());
    Writer::new(out).write_event(Event::Start(tag))
}

/// Appends an end tag.
pub(crate) fn end(out: &mut Vec<u8>, name: &str) -> io::Result<()> {
    Writer::new(out).write_event(Event::End(BytesEnd::new(name)))
}

/// Appends `<name>text</name>`.
pub(crate) fn element(out: &mut Vec<u8>, name: &str, text: &str) -> io::Result<()> {
    let mut writer = Writer::new(out);
    writer.write_event(Event::Start(BytesStart::new(name)))?;
    writer.write_event(Event::Text(BytesText::new(text)))?;
    writer.write_event(Event::End(BytesEnd::new(name)))
}
