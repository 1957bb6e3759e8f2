//! The card's bar table written in place: rows and cells are made once, then only the
//! text of the cells that changed is replaced.
//!
//! Written as markup (`innerHTML`) four times a second on 50 busy cards, the table made the
//! browser parse, style and lay out some 10,000 new elements a second: the page drew 39
//! frames a second with it and 54 without it (BENCHMARKS.md). A changed text in a cell that
//! exists needs no new style and no new node.

use web_sys::Element;

use crate::model::table::Row;

/// Makes `body` (a `<tbody>`) show `rows`, given that it shows `before` now.
pub fn write(body: &Element, before: &[Row], rows: &[Row]) {
    let Some(document) = body.owner_document() else {
        return;
    };
    let trs = body.children();
    while trs.length() as usize > rows.len() {
        match body.last_element_child() {
            Some(last) => last.remove(),
            None => break,
        }
    }
    for (i, row) in rows.iter().enumerate() {
        let (tr, was) = match trs.item(i as u32) {
            Some(tr) => (tr, before.get(i)),
            None => {
                let Ok(tr) = document.create_element("tr") else {
                    return;
                };
                for _ in row {
                    if let Ok(td) = document.create_element("td") {
                        let _ = tr.append_child(&td);
                    }
                }
                let _ = body.append_child(&tr);
                (tr, None)
            }
        };
        let tds = tr.children();
        for (j, text) in row.iter().enumerate() {
            if was.is_some_and(|was| was[j] == *text) {
                continue;
            }
            let Some(td) = tds.item(j as u32) else {
                continue;
            };
            // The text node's value, not `textContent`: that would swap the node for a new one.
            match td.first_child() {
                Some(node) => node.set_node_value(Some(text)),
                None => td.set_text_content(Some(text)),
            }
        }
    }
}
