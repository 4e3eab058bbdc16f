package radio

import (
	"fmt"
	"math"
)

// CheckLatLng reports whether (lat, lng) are coordinates in degrees:
// latitude within ±90, longitude within ±180, neither NaN nor infinite. The
// error names the coordinate that is not.
func CheckLatLng(lat, lng float64) error {
	if math.IsNaN(lat) || math.IsInf(lat, 0) || lat < -90 || lat > 90 {
		return fmt.Errorf("invalid latitude %v: want degrees from -90 to 90", lat)
	}
	if math.IsNaN(lng) || math.IsInf(lng, 0) || lng < -180 || lng > 180 {
		return fmt.Errorf("invalid longitude %v: want degrees from -180 to 180", lng)
	}
	return nil
}

// RegionAt returns the name of the region whose area contains the point
// (lat, lng), in degrees, and true; or "", false when the point is outside
// every area (open sea, and countries hexfield does not map yet) or the
// coordinates are NaN, infinite or out of range. Longitudes are taken
// modulo 360.
//
// The map is regionMap below: hand-drawn polygons and boxes, checked in
// order, the first match winning. Small or differently-planned areas come
// before the large ones that surround them, and a few areas carry no region
// at all: they carve unmapped countries (Bangladesh, Kaliningrad) out of a
// larger area. Outlines are coarse, with vertices offshore where possible,
// so coasts and islands are inside; along land borders between areas of
// different plans a point may be misassigned within about 20 km. The map is
// part of the proof-of-coverage rules: every oracle must run the same
// version, so a change to it is a rule change.
//
// Plans by area (LoRa Alliance RP002 "regional parameters by country" and
// Helium's region map): US915 for the United States, Canada and Mexico;
// EU868 for Europe (EEA, UK, Switzerland, the Balkans, Ukraine, Moldova,
// Turkey), the Caucasus, the Middle East from Egypt to Iran except Israel
// and Yemen, and Africa; AU915 for Australia, New Zealand and South
// America; AS923-1 for Japan, Taiwan, Hong Kong, Macau, Singapore, Malaysia,
// Brunei, Thailand, Cambodia, Laos and Myanmar; AS923-2 for Vietnam and
// Indonesia; AS923-3 for the Philippines; AS923-4 for Israel; KR920 for
// South Korea; IN865 for India. Not mapped: Russia and Belarus (RU864, not
// a hexfield region), China (CN470 has no beacons), Central America and
// the Caribbean, Central and South Asia outside India, Oceania outside
// Australia and New Zealand, Greenland and Antarctica. EU433 is never
// assigned by location.
func RegionAt(lat, lng float64) (string, bool) {
	if math.IsNaN(lat) || lat < -90 || lat > 90 || math.IsNaN(lng) || math.IsInf(lng, 0) {
		return "", false
	}
	lng = normLng(lng)
	for i := range regionMap {
		a := &regionMap[i]
		if a.contains(lat, lng) {
			return a.region, a.region != ""
		}
	}
	return "", false
}

// normLng maps a finite longitude into [−180, 180).
func normLng(lng float64) float64 {
	lng = math.Mod(lng+180, 360)
	if lng < 0 {
		lng += 360
	}
	return lng - 180
}

// ll is a vertex: latitude, longitude in degrees.
type ll struct{ lat, lng float64 }

// area is one entry of the region map: a polygon (vertices in order, the
// last joined to the first; no edge crosses the antimeridian) and the
// region it maps to, "" for an explicitly unmapped hole.
type area struct {
	name   string
	region string
	ring   []ll
}

// contains reports whether the point is inside the ring (even-odd rule).
// Only comparisons and explicitly rounded products are used, so the answer
// is the same on every platform.
func (a *area) contains(lat, lng float64) bool {
	inside := false
	n := len(a.ring)
	for i, j := 0, n-1; i < n; j, i = i, i+1 {
		p, q := a.ring[i], a.ring[j]
		if (p.lat > lat) == (q.lat > lat) {
			continue
		}
		// Longitude where the edge crosses this latitude.
		x := p.lng + float64(float64(lat-p.lat)*float64(q.lng-p.lng))/(q.lat-p.lat)
		if lng < x {
			inside = !inside
		}
	}
	return inside
}

// box is a rectangle from (south, west) to (north, east).
func box(south, west, north, east float64) []ll {
	return []ll{{south, west}, {north, west}, {north, east}, {south, east}}
}

// regionMap is the region map, checked in order. It is read-only data.
var regionMap = [...]area{
	// City states and islands that sit inside or next to larger areas.
	{"Singapore", "AS923-1", box(1.15, 103.55, 1.48, 104.1)},
	{"Hong Kong", "AS923-1", []ll{
		{22.13, 113.82}, {22.35, 113.82}, {22.47, 113.98}, {22.5, 114.05},
		{22.505, 114.12}, {22.54, 114.2}, {22.57, 114.27}, {22.57, 114.45},
		{22.13, 114.45},
	}},
	{"Macau", "AS923-1", box(22.1, 113.54, 22.215, 113.6)},
	{"Taiwan", "AS923-1", box(21.8, 119.3, 25.45, 122.1)},

	{"South Korea", "KR920", []ll{
		{37.75, 124.5}, {37.75, 126.2}, {37.95, 126.7}, {38.3, 127.1},
		{38.33, 128.0}, {38.62, 128.36}, {38.62, 129.0}, {37.8, 131.2},
		{37.2, 131.2}, {36.5, 130.0}, {35.4, 129.6}, {35.0, 129.15}, {34.5, 128.9},
		{33.0, 127.0}, {33.0, 126.0}, {34.0, 124.5},
	}},

	{"Japan", "AS923-1", []ll{
		{24.0, 122.8}, {26.0, 122.8}, {30.5, 127.5}, {32.5, 128.2},
		{34.0, 128.8}, {34.75, 129.1}, {35.3, 130.5}, {38.0, 134.5},
		{41.0, 138.5}, {45.6, 140.5}, {45.6, 142.2}, {44.4, 145.2},
		{43.45, 145.3}, {43.3, 146.0}, {42.0, 146.0}, {33.0, 141.0},
		{24.0, 131.5},
	}},
	{"Japan: Ogasawara", "AS923-1", box(26.5, 141.9, 27.8, 142.4)},

	{"Malaysia (Sarawak, Sabah) and Brunei", "AS923-1", []ll{
		{2.05, 109.65}, {1.45, 110.1}, {1.0, 110.9}, {1.0, 111.9},
		{1.55, 112.6}, {1.45, 113.6}, {2.1, 114.6}, {2.9, 115.2},
		{3.6, 115.6}, {4.3, 115.9}, {4.3, 117.5}, {4.17, 117.9},
		{4.0, 118.7}, {4.5, 118.95}, {5.1, 119.32}, {5.6, 118.9},
		{6.2, 118.0}, {7.0, 117.8}, {7.45, 117.2}, {7.45, 116.5},
		{6.0, 114.5}, {4.5, 113.5}, {3.5, 111.0},
		{2.3, 109.2},
	}},

	{"Philippines", "AS923-3", []ll{
		{21.2, 120.5}, {21.2, 122.5}, {12.5, 126.5}, {5.0, 126.7},
		{5.0, 124.0}, {4.4, 119.2}, {7.8, 116.5}, {12.5, 118.8},
		{18.6, 119.8},
	}},

	{"Vietnam", "AS923-2", []ll{
		{22.4, 102.15}, {22.75, 102.6}, {22.5, 104.0}, {22.8, 104.6},
		{23.2, 105.0}, {23.4, 105.35}, {22.9, 106.0}, {22.9, 106.7},
		{22.35, 106.65}, {21.95, 106.75}, {21.6, 107.35}, {21.5, 108.05},
		{21.0, 108.3}, {20.5, 107.8}, {18.0, 107.5}, {16.0, 109.0},
		{12.0, 109.8}, {10.5, 108.5}, {8.2, 107.0}, {8.2, 104.3},
		{9.5, 103.6}, {10.47, 103.9}, {10.4, 104.45}, {10.9, 105.05},
		{11.0, 105.8}, {11.6, 105.9}, {12.2, 106.8}, {13.5, 107.5},
		{14.7, 107.55}, {15.8, 107.4}, {16.2, 107.0}, {16.5, 106.6},
		{17.3, 106.2}, {17.9, 105.6}, {18.5, 105.15}, {19.0, 104.2},
		{19.6, 104.1}, {20.2, 104.6}, {20.7, 104.4}, {20.9, 103.9},
		{21.2, 103.0}, {22.0, 102.5},
	}},

	// Holes and the Indian subcontinent, before mainland South-East Asia.
	{"Bangladesh (not mapped)", "", []ll{
		{21.6, 89.05}, {22.95, 88.95}, {23.8, 88.6}, {24.3, 88.05},
		{25.1, 88.45}, {25.5, 88.9}, {26.3, 88.3}, {26.6, 88.45},
		{26.0, 89.85}, {25.25, 90.0}, {25.2, 92.0}, {25.0, 92.45},
		{24.2, 92.2}, {24.3, 92.0}, {24.05, 91.35}, {23.9, 91.22},
		{23.2, 91.15},
		{22.95, 91.6}, {23.6, 91.95}, {22.9, 92.25}, {21.9, 92.65},
		{21.15, 92.6}, {20.75, 92.32}, {20.5, 92.2}, {21.3, 89.05},
	}},
	{"India", "IN865", []ll{
		{23.6, 68.1}, {24.3, 68.8}, {24.3, 71.0}, {24.6, 71.1},
		{25.7, 70.2}, {26.6, 70.2}, {27.0, 69.5}, {27.9, 70.4},
		{28.0, 70.7}, {28.9, 72.2}, {29.6, 73.3}, {30.1, 73.4},
		{31.1, 74.6}, {32.3, 75.0}, {32.5, 74.6}, {33.0, 74.3},
		{34.0, 73.9}, {34.6, 74.3}, {35.1, 75.0}, {35.6, 77.0},
		{35.5, 78.0}, {34.8, 78.2}, {33.5, 79.3}, {32.5, 79.5},
		{31.0, 79.0}, {30.3, 80.2}, {29.1, 80.1}, {28.6, 80.6},
		{28.1, 81.5}, {27.4, 83.4}, {27.0, 84.5}, {26.5, 85.5},
		{26.4, 87.0}, {26.4, 88.1}, {27.1, 88.1}, {28.1, 88.8},
		{27.1, 88.9}, {26.8, 89.0}, {26.8, 92.1}, {27.8, 91.6},
		{28.3, 93.0}, {29.3, 94.5}, {29.4, 96.0}, {28.2, 97.4},
		{27.2, 96.2}, {26.0, 95.1}, {24.3, 94.1}, {23.0, 93.3},
		{21.95, 92.6}, {20.5, 92.2}, {19.0, 87.5}, {15.0, 82.0},
		{10.3, 80.4}, {10.25, 79.95}, {9.35, 79.45}, {9.1, 79.0},
		{7.8, 77.6}, {8.0, 76.8}, {10.0, 75.5}, {15.0, 72.8},
		{20.5, 70.5}, {21.0, 68.5},
	}},
	{"India: Andaman and Nicobar Islands", "IN865", box(6.5, 92.0, 13.8, 94.3)},
	{"India: Lakshadweep", "IN865", box(8.0, 71.5, 12.5, 74.0)},

	{"Thailand, Cambodia, Laos, Myanmar, Peninsular Malaysia", "AS923-1", []ll{
		{28.3, 97.3}, {27.2, 96.2}, {26.0, 95.1}, {24.3, 94.1},
		{23.0, 93.3}, {21.9, 92.6}, {21.15, 92.6}, {20.7, 92.3},
		{19.5, 93.0}, {16.0, 93.8}, {14.5, 93.2}, {13.9, 94.4},
		{10.0, 97.0}, {6.0, 97.6}, {5.0, 98.8}, {4.0, 99.9},
		{3.0, 100.8}, {2.1, 101.8}, {1.2, 103.3}, {1.3, 104.0},
		{1.4, 104.4}, {2.6, 105.0},
		// Inside Vietnam, which is checked first.
		{9.0, 105.5}, {12.0, 108.0}, {16.0, 108.0}, {19.5, 105.5},
		// Borders with China.
		{22.4, 102.15}, {22.45, 101.75},
		{21.15, 101.15}, {21.45, 100.25}, {22.1, 99.2}, {23.1, 99.5},
		{24.1, 97.6}, {24.8, 97.55}, {25.6, 98.65}, {27.5, 98.7},
		{28.3, 97.5},
	}},

	{"Australia", "AU915", []ll{
		{-11.2, 112.5}, {-11.2, 124.0}, {-10.3, 130.0}, {-10.3, 136.0},
		{-9.9, 141.5}, {-10.0, 142.0}, {-10.0, 145.0}, {-16.0, 150.0},
		{-29.0, 155.0}, {-38.0, 151.5}, {-44.0, 149.0}, {-44.5, 147.0},
		{-44.5, 144.0}, {-38.0, 140.0}, {-36.5, 133.0}, {-35.5, 123.0},
		{-35.5, 115.0}, {-34.5, 113.5}, {-26.0, 112.5},
	}},
	{"New Zealand", "AU915", []ll{
		{-33.8, 171.5}, {-33.8, 175.0}, {-37.0, 179.0}, {-41.8, 176.5},
		{-47.8, 169.5}, {-47.8, 166.0}, {-44.5, 166.0}, {-40.0, 171.0},
	}},
	{"Timor-Leste (not mapped)", "", box(-9.5, 125.1, -8.1, 127.4)},
	{"Indonesia", "AS923-2", box(-11.2, 94.5, 6.2, 141.0)},

	{"Israel", "AS923-4", []ll{
		{33.09, 35.1}, {33.28, 35.6}, {33.3, 35.8}, {32.7, 35.8},
		{32.6, 35.57}, {31.8, 35.55}, {31.1, 35.45}, {30.5, 35.15},
		{29.55, 34.98}, {29.5, 34.9}, {30.9, 34.4}, {31.3, 34.25},
		{31.3, 34.1}, {33.09, 34.9},
	}},
	{"Kaliningrad (not mapped)", "", []ll{
		{54.36, 19.6}, {54.36, 22.8}, {54.9, 22.9}, {55.1, 22.0},
		{55.3, 21.3}, {55.3, 20.5}, {54.95, 19.6},
	}},
	{"Europe, the Caucasus, the Middle East and Africa", "EU868", []ll{
		// North Atlantic and Norway.
		{60.0, -12.0}, {62.5, -8.5}, {63.5, 2.0}, {69.5, 11.0},
		{71.5, 24.0}, {70.5, 31.5},
		// Border with Russia and Belarus, north to south.
		{69.75, 30.85}, {69.05, 28.95}, {68.5, 28.6}, {67.9, 30.0},
		{66.8, 29.2}, {66.0, 29.9}, {65.0, 29.7}, {64.0, 30.5},
		{63.0, 31.3}, {62.0, 30.8}, {61.5, 29.5}, {60.55, 27.75},
		{60.3, 27.8}, {59.8, 27.0}, {59.45, 28.05}, {59.38, 28.205},
		{58.9, 27.8},
		{58.0, 27.55}, {57.55, 27.4}, {57.3, 27.85}, {56.85, 28.15},
		{56.15, 28.2}, {55.8, 26.9}, {55.6, 26.6}, {55.1, 26.75},
		{54.6, 25.8}, {54.3, 25.5}, {53.95, 24.0}, {53.9, 23.5},
		{53.4, 23.9}, {52.7, 23.9}, {52.1, 23.6}, {51.5, 23.6},
		{51.9, 25.5}, {51.9, 27.0}, {51.5, 30.5}, {52.37, 31.78},
		{52.35, 33.8}, {51.2, 35.1}, {50.3, 36.9}, {50.1, 38.0},
		{49.9, 40.1}, {49.0, 40.0}, {48.2, 39.8}, {47.25, 38.25},
		{47.0, 38.2}, {46.0, 37.0}, {45.3, 36.6}, {44.0, 37.5},
		{43.38, 40.0}, {43.5, 41.0}, {43.1, 42.5}, {42.7, 44.6},
		{42.5, 45.7}, {41.9, 46.5}, {41.85, 47.8}, {41.9, 48.6},
		// Caspian Sea, then Iran's borders with Turkmenistan,
		// Afghanistan and Pakistan.
		{37.35, 53.9}, {37.6, 55.5}, {38.1, 57.3}, {37.3, 59.5},
		{36.6, 61.1}, {35.5, 61.2}, {34.4, 60.5}, {33.0, 60.85},
		{31.4, 61.8}, {29.9, 60.87}, {29.0, 61.6}, {27.2, 62.8},
		{26.3, 63.2}, {25.6, 61.7}, {25.2, 61.6},
		// Arabian Sea and Oman; Yemen is left out.
		{24.5, 61.0}, {22.5, 60.5}, {17.0, 57.0}, {16.65, 53.1},
		{19.0, 52.0}, {18.5, 49.0}, {17.3, 47.0}, {17.4, 44.5},
		{16.4, 43.2}, {16.4, 42.0}, {12.6, 43.3}, {12.0, 45.5},
		{12.5, 51.0}, {12.0, 51.5},
		// Indian Ocean off East Africa, Madagascar, Mauritius.
		{10.0, 52.0}, {2.0, 47.5}, {-4.0, 56.5}, {-21.0, 58.5},
		{-26.5, 48.0}, {-35.5, 27.0}, {-35.5, 18.0},
		// Atlantic off Africa and Europe.
		// The Gulf of Guinea: Annobón, São Tomé and Bioko inside,
		// the open sea around 0°, 0° ("Null Island") outside.
		{-30.0, 14.5}, {-17.0, 10.0}, {-5.0, 8.0}, {-2.0, 5.0},
		{1.0, 5.0}, {3.5, 0.0}, {3.0, -8.0}, {9.0, -17.0}, {15.5, -25.5}, {21.0, -19.0},
		{27.5, -19.0}, {33.5, -18.0}, {36.5, -10.0}, {43.5, -10.0},
		{48.0, -6.0}, {51.0, -11.0}, {55.5, -11.0},
	}},
	{"Iceland", "EU868", box(63.2, -24.6, 66.7, -13.4)},
	{"Portugal: Azores", "EU868", box(36.8, -31.5, 39.8, -24.8)},

	{"South America", "AU915", []ll{
		{8.68, -77.36}, {9.8, -76.9}, {11.5, -75.5}, {12.6, -72.2},
		{11.0, -62.0}, {8.5, -60.0}, {5.0, -51.0}, {-1.0, -47.0},
		{-5.0, -34.5}, {-8.0, -34.5}, {-23.0, -40.5}, {-35.5, -53.5},
		{-38.5, -56.8}, {-41.0, -62.0}, {-48.0, -65.3}, {-55.0, -63.5},
		{-56.2, -67.5}, {-55.5, -75.0}, {-40.0, -75.5}, {-30.0, -72.5},
		{-18.0, -71.5}, {-13.0, -77.5}, {-5.0, -82.0}, {1.5, -81.0},
		{7.2, -77.9},
	}},
	{"Ecuador: Galápagos", "AU915", box(-1.6, -92.1, 1.7, -89.2)},

	{"United States, Canada, Mexico", "US915", []ll{
		// Mexico's border with Guatemala and Belize, then the Gulf.
		{14.53, -92.2}, {15.25, -92.1}, {16.05, -91.7}, {16.07, -90.45},
		{17.25, -90.99}, {17.82, -90.98}, {17.82, -89.15}, {18.49, -88.3},
		{18.5, -87.7}, {21.6, -86.6}, {24.2, -84.3}, {24.2, -80.4},
		// Atlantic, Labrador, Baffin Bay.
		{25.5, -79.0}, {31.0, -77.5}, {35.0, -74.0}, {41.0, -68.0},
		{43.0, -65.5}, {45.5, -59.0}, {46.5, -52.0}, {52.0, -54.5},
		{55.0, -58.0}, {62.0, -62.0}, {66.5, -58.5}, {70.0, -64.0},
		{78.0, -75.0}, {83.5, -65.0},
		// Arctic, Bering Strait, Aleutians east of 180°.
		{83.5, -168.95}, {65.6, -168.95}, {63.9, -172.0}, {60.0, -180.0},
		{51.0, -180.0},
		// Pacific.
		{51.0, -150.0}, {48.0, -135.0}, {40.0, -130.0}, {32.0, -122.0},
		{28.0, -119.0}, {22.0, -112.0}, {20.0, -107.0}, {15.0, -99.0},
		{14.3, -92.8},
	}},
	{"United States: Aleutians west of 180°", "US915", box(51.0, 172.0, 55.5, 180.0)},
	{"United States: Hawaii", "US915", box(18.5, -160.6, 22.6, -154.5)},
	{"United States: Puerto Rico and Virgin Islands", "US915", box(17.6, -67.95, 18.6, -64.5)},
}
