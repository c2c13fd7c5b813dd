package faultinject

import "errors"

// Sentinel errors returned by Proxy methods. Errors that carry more detail
// wrap one of these; test them with errors.Is.
var (
	// ErrClosed: the proxy has been closed.
	ErrClosed = errors.New("faultinject: proxy closed")
	// ErrToxicExists: AddToxic was given a name that is already in use.
	ErrToxicExists = errors.New("faultinject: toxic already exists")
	// ErrToxicNotFound: no toxic has the given name.
	ErrToxicNotFound = errors.New("faultinject: toxic not found")
	// ErrInvalidToxic: a toxic, its name or one of its fields is invalid
	// (nil toxic, empty name, negative duration, zero bandwidth, a value
	// above MaxToxicDuration or MaxToxicSize, ...).
	ErrInvalidToxic = errors.New("faultinject: invalid toxic")
	// ErrInvalidToxicity: a toxicity is outside [0, 1] or not a number.
	ErrInvalidToxicity = errors.New("faultinject: toxicity must be between 0 and 1")
	// ErrInvalidDirection: a Direction is neither Upstream nor Downstream.
	ErrInvalidDirection = errors.New("faultinject: invalid direction")
)
