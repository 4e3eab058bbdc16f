package main

import (
	"fmt"

	"github.com/hexfield/hexfield/radio"
	"github.com/hexfield/hexfield/verifier"
)

// assertResolution is the H3 resolution of asserted locations.
const assertResolution = 12

// locationCell checks coordinates given on the command line and returns
// their resolution-12 cell; invalid coordinates are refused before
// anything is signed. Whether the point is in a region is the oracle's
// call (its region map is part of the rules); its answer is reported with
// the coordinates (describeCell).
//
// where names the location as given, for describeCell.
func locationCell(lat, lng float64) (cell uint64, where string, err error) {
	if err := radio.CheckLatLng(lat, lng); err != nil {
		return 0, "", err
	}
	where = fmt.Sprintf("location %g, %g", lat, lng)
	cell, err = verifier.LatLngToCell(lat, lng, assertResolution)
	if err != nil {
		return 0, "", fmt.Errorf("%s: %w", where, err)
	}
	return cell, where, nil
}

// describeCell names a location for errors: as given (where), else by
// the cell's centre, with the cell.
func describeCell(cell uint64, where string) string {
	if where != "" {
		return where + " (cell " + verifier.CellString(cell) + ")"
	}
	lat, lng, err := verifier.CellLatLng(cell)
	if err != nil {
		return "location " + verifier.CellString(cell)
	}
	return fmt.Sprintf("location %.6f, %.6f (cell %s)", lat, lng, verifier.CellString(cell))
}
