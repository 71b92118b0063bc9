//! Per-session attributes (Spring's `simpSessionAttributes`).

use std::any::{Any, TypeId};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

/// Values stored for the life of one session, shared by its handlers and interceptors, keyed
/// by type (like `http::Extensions`). Spring exposes the same idea as the WebSocket session
/// attribute map; a typed map avoids its string keys and casts. Cloning shares the map.
#[derive(Clone, Default)]
pub struct SessionAttributes {
    // A std Mutex: held only to insert or clone a value out, never across an await.
    map: Arc<Mutex<HashMap<TypeId, Arc<dyn Any + Send + Sync>>>>,
}

impl SessionAttributes {
    /// An empty map.
    pub fn new() -> SessionAttributes {
        SessionAttributes::default()
    }

    /// Stores `value`, replacing any value of the same type.
    pub fn insert<T: Send + Sync + 'static>(&self, value: T) {
        self.map
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(TypeId::of::<T>(), Arc::new(value));
    }

    /// The value of type `T`, if one was stored.
    pub fn get<T: Send + Sync + 'static>(&self) -> Option<Arc<T>> {
        let value = self
            .map
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&TypeId::of::<T>())
            .cloned()?;
        value.downcast::<T>().ok()
    }

    /// Removes the value of type `T`; returns true when one was there.
    pub fn remove<T: Send + Sync + 'static>(&self) -> bool {
        self.map
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&TypeId::of::<T>())
            .is_some()
    }
}

impl std::fmt::Debug for SessionAttributes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let len = self.map.lock().map(|m| m.len()).unwrap_or(0);
        f.debug_struct("SessionAttributes")
            .field("len", &len)
            .finish()
    }
}
