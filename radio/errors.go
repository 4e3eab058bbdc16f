package radio

import "errors"

// Errors returned by this package; match them with errors.Is.
var (
	// ErrUnknownRegion: the region name is not one of Regions().
	ErrUnknownRegion = errors.New("unknown region")
	// ErrNoBeacon: the region has no beacon data rate (CN470) or no
	// channels, so no beacon can be built for it.
	ErrNoBeacon = errors.New("region has no beacon parameters")
)
