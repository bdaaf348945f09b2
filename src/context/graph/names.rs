//! A table of names (agents, sessions, ops, branches) stored once and referred to by index, so
//! that a checkpoint holds each name once however many commits or moves carry it.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::collections::HashMap;

/// Names by index. Checkpointed as the list alone; the map back from names is rebuilt when a
/// name is first added after a load, so a load that only reads builds nothing.
#[derive(Debug, Clone, Default)]
pub struct Names {
    list: Vec<String>,
    index: HashMap<String, u32>,
}

impl Names {
    /// The index of `name`, added if it is new.
    pub fn intern(&mut self, name: &str) -> u32 {
        if self.index.len() < self.list.len() {
            self.index = (0..)
                .zip(&self.list)
                .map(|(at, name)| (name.clone(), at))
                .collect();
        }
        if let Some(&at) = self.index.get(name) {
            return at;
        }
        let at = u32::try_from(self.list.len()).expect("fewer than 2^32 names");
        self.list.push(name.to_owned());
        self.index.insert(name.to_owned(), at);
        at
    }

    /// The name at index `at`, which [`Names::has`] checked.
    pub fn get(&self, at: u32) -> &str {
        &self.list[at as usize]
    }

    /// True when `at` is the index of a name.
    pub fn has(&self, at: u32) -> bool {
        (at as usize) < self.list.len()
    }
}

impl PartialEq for Names {
    fn eq(&self, other: &Names) -> bool {
        self.list == other.list
    }
}

impl Eq for Names {}

impl Serialize for Names {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.list.serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for Names {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Names, D::Error> {
        Ok(Names {
            list: Vec::deserialize(deserializer)?,
            index: HashMap::new(),
        })
    }
}
