//! Attribute macros for stomp-server. (Being written.)
