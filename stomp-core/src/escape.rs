//! Header escaping per STOMP version. (Being written.)
