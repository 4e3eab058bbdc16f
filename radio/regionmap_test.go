package radio

import (
	"math"
	"strings"
	"testing"
)

func TestRegionAtCities(t *testing.T) {
	for _, tc := range []struct {
		place    string
		lat, lng float64
		want     string // "" = no region
	}{
		// US915
		{"San Francisco", 37.7749, -122.4194, "US915"},
		{"New York", 40.7128, -74.0060, "US915"},
		{"Miami", 25.7617, -80.1918, "US915"},
		{"Key West", 24.5551, -81.7800, "US915"},
		{"Chicago", 41.8781, -87.6298, "US915"},
		{"Toronto", 43.6532, -79.3832, "US915"},
		{"Vancouver", 49.2827, -123.1207, "US915"},
		{"St. John's, Newfoundland", 47.5615, -52.7126, "US915"},
		{"Anchorage", 61.2181, -149.9003, "US915"},
		{"Mexico City", 19.4326, -99.1332, "US915"},
		{"Cancún", 21.1619, -86.8515, "US915"},
		{"Tapachula", 14.9031, -92.2575, "US915"},
		{"Honolulu", 21.3069, -157.8583, "US915"},
		{"San Juan", 18.4655, -66.1057, "US915"},
		{"Adak, Aleutians", 51.88, -176.66, "US915"},
		{"Attu, Aleutians", 52.93, 173.2, "US915"},
		// EU868
		{"Amsterdam", 52.3676, 4.9041, "EU868"},
		{"London", 51.5074, -0.1278, "EU868"},
		{"Dublin", 53.3498, -6.2603, "EU868"},
		{"Lisbon", 38.7223, -9.1393, "EU868"},
		{"Madrid", 40.4168, -3.7038, "EU868"},
		{"Paris", 48.8566, 2.3522, "EU868"},
		{"Berlin", 52.52, 13.405, "EU868"},
		{"Rome", 41.9028, 12.4964, "EU868"},
		{"Oslo", 59.9139, 10.7522, "EU868"},
		{"Tromsø", 69.6492, 18.9553, "EU868"},
		{"Helsinki", 60.1699, 24.9384, "EU868"},
		{"Tallinn", 59.437, 24.7536, "EU868"},
		{"Narva", 59.3797, 28.1791, "EU868"},
		{"Riga", 56.9496, 24.1052, "EU868"},
		{"Vilnius", 54.6872, 25.2797, "EU868"},
		{"Warsaw", 52.2297, 21.0122, "EU868"},
		{"Gdańsk", 54.352, 18.6466, "EU868"},
		{"Kyiv", 50.4501, 30.5234, "EU868"},
		{"Kharkiv", 49.9935, 36.2304, "EU868"},
		{"Athens", 37.9838, 23.7275, "EU868"},
		{"Istanbul", 41.0082, 28.9784, "EU868"},
		{"Reykjavík", 64.1466, -21.9426, "EU868"},
		{"Ponta Delgada, Azores", 37.7412, -25.6756, "EU868"},
		{"Las Palmas, Canary Islands", 28.1235, -15.4363, "EU868"},
		{"Tbilisi", 41.7151, 44.8271, "EU868"},
		{"Baku", 40.4093, 49.8671, "EU868"},
		{"Tehran", 35.6892, 51.389, "EU868"},
		{"Dubai", 25.2048, 55.2708, "EU868"},
		{"Muscat", 23.588, 58.3829, "EU868"},
		{"Riyadh", 24.7136, 46.6753, "EU868"},
		{"Amman", 31.9454, 35.9284, "EU868"},
		{"Beirut", 33.8938, 35.5018, "EU868"},
		{"Cairo", 30.0444, 31.2357, "EU868"},
		{"Casablanca", 33.5731, -7.5898, "EU868"},
		{"Lagos", 6.5244, 3.3792, "EU868"},
		{"Accra", 5.6037, -0.187, "EU868"},
		{"Cape Three Points", 4.745, -2.09, "EU868"},
		{"Abidjan", 5.36, -4.0083, "EU868"},
		{"Lomé", 6.1375, 1.2123, "EU868"},
		{"Cotonou", 6.3703, 2.3912, "EU868"},
		{"Malabo, Bioko", 3.75, 8.7833, "EU868"},
		{"São Tomé", 0.3365, 6.7273, "EU868"},
		{"Príncipe", 1.6136, 7.4056, "EU868"},
		{"Annobón", -1.4333, 5.6333, "EU868"},
		{"Libreville", 0.4162, 9.4673, "EU868"},
		{"Nairobi", -1.2921, 36.8219, "EU868"},
		{"Johannesburg", -26.2041, 28.0473, "EU868"},
		{"Cape Town", -33.9249, 18.4241, "EU868"},
		{"Antananarivo", -18.8792, 47.5079, "EU868"},
		{"Port Louis, Mauritius", -20.1609, 57.5012, "EU868"},
		// AU915
		{"Sydney", -33.8688, 151.2093, "AU915"},
		{"Perth", -31.9505, 115.8605, "AU915"},
		{"Darwin", -12.4634, 130.8456, "AU915"},
		{"Hobart", -42.8821, 147.3272, "AU915"},
		{"Cairns", -16.9186, 145.7781, "AU915"},
		{"Auckland", -36.8485, 174.7633, "AU915"},
		{"Christchurch", -43.5321, 172.6362, "AU915"},
		{"São Paulo", -23.5505, -46.6333, "AU915"},
		{"Buenos Aires", -34.6037, -58.3816, "AU915"},
		{"Santiago", -33.4489, -70.6693, "AU915"},
		{"Lima", -12.0464, -77.0428, "AU915"},
		{"Bogotá", 4.711, -74.0721, "AU915"},
		{"Cartagena", 10.391, -75.4794, "AU915"},
		{"Ushuaia", -54.8019, -68.303, "AU915"},
		// AS923
		{"Tokyo", 35.6762, 139.6503, "AS923-1"},
		{"Sapporo", 43.0618, 141.3545, "AS923-1"},
		{"Naha, Okinawa", 26.2124, 127.6809, "AS923-1"},
		{"Fukuoka", 33.5904, 130.4017, "AS923-1"},
		{"Tsushima", 34.2, 129.29, "AS923-1"},
		{"Singapore", 1.3521, 103.8198, "AS923-1"},
		{"Taipei", 25.033, 121.5654, "AS923-1"},
		{"Hong Kong", 22.3193, 114.1694, "AS923-1"},
		{"Bangkok", 13.7563, 100.5018, "AS923-1"},
		{"Kuala Lumpur", 3.139, 101.6869, "AS923-1"},
		{"Johor Bahru", 1.4927, 103.7414, "AS923-1"},
		{"Kuching", 1.5535, 110.3593, "AS923-1"},
		{"Kota Kinabalu", 5.9804, 116.0735, "AS923-1"},
		{"Bandar Seri Begawan", 4.9031, 114.9398, "AS923-1"},
		{"Phnom Penh", 11.5564, 104.9282, "AS923-1"},
		{"Vientiane", 17.9757, 102.6331, "AS923-1"},
		{"Yangon", 16.8409, 96.1735, "AS923-1"},
		{"Hanoi", 21.0278, 105.8342, "AS923-2"},
		{"Ho Chi Minh City", 10.8231, 106.6297, "AS923-2"},
		{"Da Nang", 16.0544, 108.2022, "AS923-2"},
		{"Jakarta", -6.2088, 106.8456, "AS923-2"},
		{"Medan", 3.5952, 98.6722, "AS923-2"},
		{"Batam", 1.0456, 104.0305, "AS923-2"},
		{"Pontianak", -0.0263, 109.3425, "AS923-2"},
		{"Denpasar", -8.6705, 115.2126, "AS923-2"},
		{"Jayapura", -2.5337, 140.7181, "AS923-2"},
		{"Manila", 14.5995, 120.9842, "AS923-3"},
		{"Davao", 7.1907, 125.4553, "AS923-3"},
		{"Tel Aviv", 32.0853, 34.7818, "AS923-4"},
		{"Jerusalem", 31.7683, 35.2137, "AS923-4"},
		{"Eilat", 29.5577, 34.9519, "AS923-4"},
		// KR920
		{"Seoul", 37.5665, 126.978, "KR920"},
		{"Busan", 35.1796, 129.0756, "KR920"},
		{"Jeju", 33.4996, 126.5312, "KR920"},
		{"Ulleungdo", 37.4844, 130.9057, "KR920"},
		// IN865
		{"Mumbai", 19.076, 72.8777, "IN865"},
		{"Delhi", 28.7041, 77.1025, "IN865"},
		{"Kolkata", 22.5726, 88.3639, "IN865"},
		{"Chennai", 13.0827, 80.2707, "IN865"},
		{"Bengaluru", 12.9716, 77.5946, "IN865"},
		{"Amritsar", 31.634, 74.8723, "IN865"},
		{"Guwahati", 26.1445, 91.7362, "IN865"},
		{"Agartala", 23.8315, 91.2868, "IN865"},
		{"Port Blair", 11.6234, 92.7265, "IN865"},
		// Near borders between differently planned or unmapped areas.
		{"Kirkenes", 69.7271, 30.0456, "EU868"},
		{"Joensuu", 62.601, 29.7636, "EU868"},
		{"Tartu", 58.378, 26.729, "EU868"},
		{"Daugavpils", 55.8714, 26.5161, "EU868"},
		{"Białystok", 53.1325, 23.1688, "EU868"},
		{"Lviv", 49.8397, 24.0297, "EU868"},
		{"Chernihiv", 51.4982, 31.2893, "EU868"},
		{"Mariupol", 47.0971, 37.5434, "EU868"},
		{"Chabahar", 25.2919, 60.643, "EU868"},
		{"Mashhad", 36.2605, 59.6168, "EU868"},
		{"Salalah", 17.0151, 54.0924, "EU868"},
		{"Najran", 17.4933, 44.1277, "EU868"},
		{"Jeddah", 21.4858, 39.1925, "EU868"},
		{"Djibouti", 11.5721, 43.1456, "EU868"},
		{"Mogadishu", 2.0469, 45.3182, "EU868"},
		{"Srinagar", 34.0837, 74.7973, "IN865"},
		{"Jammu", 32.7266, 74.857, "IN865"},
		{"Siliguri", 26.7271, 88.3953, "IN865"},
		{"Imphal", 24.817, 93.9368, "IN865"},
		{"Tamu, Myanmar", 24.2176, 94.3105, "AS923-1"},
		{"Sittwe", 20.1528, 92.8677, "AS923-1"},
		{"Mandalay", 21.9588, 96.0891, "AS923-1"},
		{"Myitkyina", 25.3833, 97.3967, "AS923-1"},
		{"Chiang Mai", 18.7883, 98.9853, "AS923-1"},
		{"Luang Prabang", 19.8856, 102.1347, "AS923-1"},
		{"Siem Reap", 13.3671, 103.8448, "AS923-1"},
		{"Kampot", 10.6104, 104.1815, "AS923-1"},
		{"Penang", 5.4141, 100.3288, "AS923-1"},
		{"Sandakan", 5.8394, 118.1172, "AS923-1"},
		{"Semporna", 4.4818, 118.6113, "AS923-1"},
		{"Sitangkai, Tawi-Tawi", 4.6617, 119.3925, "AS923-3"},
		{"Turtle Islands", 6.1, 118.23, "AS923-3"},
		{"Kaohsiung", 22.6273, 120.3014, "AS923-1"},
		{"Sheung Shui, Hong Kong", 22.5012, 114.1279, "AS923-1"},
		{"Macau", 22.19, 113.55, "AS923-1"},
		{"Nemuro", 43.3301, 145.5829, "AS923-1"},
		{"Hakodate", 41.7687, 140.7288, "AS923-1"},
		{"Haiphong", 20.8449, 106.6881, "AS923-2"},
		{"Nha Trang", 12.2388, 109.1967, "AS923-2"},
		{"Can Tho", 10.0452, 105.7469, "AS923-2"},
		{"Phu Quoc", 10.227, 103.9636, "AS923-2"},
		{"Tarakan", 3.3, 117.6333, "AS923-2"},
		{"Balikpapan", -1.2379, 116.8529, "AS923-2"},
		{"Zamboanga", 6.9214, 122.079, "AS923-3"},
		{"Puerto Princesa", 9.7392, 118.7353, "AS923-3"},
		{"Incheon", 37.4563, 126.7052, "KR920"},
		{"Tiwi Islands", -11.55, 130.85, "AU915"},
		{"Tijuana", 32.5149, -117.0382, "US915"},
		{"Ciudad Juárez", 31.6904, -106.4245, "US915"},
		// Not mapped.
		{"Null Island", 0, 0, ""},
		{"Gulf of Guinea", 1.5, 1.5, ""},
		{"Gulf of Guinea, south", -1.0, 2.0, ""},
		{"mid-Atlantic", 30.0, -40.0, ""},
		{"mid-Pacific", 0.0, -150.0, ""},
		{"south Indian Ocean", -40.0, 80.0, ""},
		{"North Pole", 90, 0, ""},
		{"South Pole", -90, 0, ""},
		{"Moscow", 55.7558, 37.6173, ""},
		{"St Petersburg", 59.9343, 30.3351, ""},
		{"Kaliningrad", 54.7104, 20.4522, ""},
		{"Minsk", 53.9045, 27.5615, ""},
		{"Beijing", 39.9042, 116.4074, ""},
		{"Shanghai", 31.2304, 121.4737, ""},
		{"Kunming", 25.0389, 102.7183, ""},
		{"Pyongyang", 39.0392, 125.7625, ""},
		{"Vladivostok", 43.1198, 131.8869, ""},
		{"Yuzhno-Sakhalinsk", 46.9641, 142.7285, ""},
		{"Dhaka", 23.8103, 90.4125, ""},
		{"Chittagong", 22.3569, 91.7832, ""},
		{"Karachi", 24.8607, 67.0011, ""},
		{"Lahore", 31.5204, 74.3587, ""},
		{"Kathmandu", 27.7172, 85.324, ""},
		{"Colombo", 6.9271, 79.8612, ""},
		{"Jaffna", 9.6615, 80.0255, ""},
		{"Kabul", 34.5553, 69.2075, ""},
		{"Ashgabat", 37.9601, 58.3261, ""},
		{"Almaty", 43.222, 76.8512, ""},
		{"Sana'a", 15.3694, 44.191, ""},
		{"Dili", -8.5569, 125.5603, ""},
		{"Port Moresby", -9.4438, 147.1803, ""},
		{"Shenzhen Futian", 22.5431, 114.0579, ""},
		{"Luohu, Shenzhen", 22.548, 114.131, ""},
		{"Xiamen", 24.4798, 118.0894, ""},
		{"Kaesong", 37.9708, 126.5544, ""},
		{"Yuzhno-Kurilsk", 44.0306, 145.8614, ""},
		{"Nikel", 69.4081, 30.2234, ""},
		{"Vyborg", 60.7096, 28.7475, ""},
		{"Pskov", 57.8136, 28.3496, ""},
		{"Brest, Belarus", 52.0976, 23.7341, ""},
		{"Grodno", 53.6694, 23.8131, ""},
		{"Homel", 52.4345, 30.9754, ""},
		{"Belgorod", 50.5997, 36.5983, ""},
		{"Rostov-on-Don", 47.2357, 39.7015, ""},
		{"Sochi", 43.6028, 39.7342, ""},
		{"Vladikavkaz", 43.0241, 44.6814, ""},
		{"Aden", 12.7855, 45.0187, ""},
		{"Herat", 34.3529, 62.204, ""},
		{"Gwadar", 25.1216, 62.3254, ""},
		{"Muzaffarabad", 34.37, 73.4711, ""},
		{"Biratnagar", 26.4525, 87.2718, ""},
		{"Phuntsholing", 26.8516, 89.3884, ""},
		{"Jinghong", 22.0094, 100.7974, ""},
		{"Nanning", 22.817, 108.3665, ""},
		{"Sanya, Hainan", 18.2528, 109.512, ""},
		{"Guatemala City", 14.6349, -90.5069, ""},
		{"Belize City", 17.5046, -88.1962, ""},
		{"Panama City", 8.9824, -79.5199, ""},
		{"Havana", 23.1136, -82.3666, ""},
		{"Nuuk", 64.1814, -51.6941, ""},
		{"Ulaanbaatar", 47.8864, 106.9057, ""},
	} {
		got, ok := RegionAt(tc.lat, tc.lng)
		if got != tc.want || ok != (tc.want != "") {
			t.Errorf("%s (%v, %v): RegionAt = %q, %v; want %q", tc.place, tc.lat, tc.lng, got, ok, tc.want)
		}
	}
}

func TestCheckLatLng(t *testing.T) {
	for _, c := range [][2]float64{{0, 0}, {90, 180}, {-90, -180}, {52.37, 4.9}} {
		if err := CheckLatLng(c[0], c[1]); err != nil {
			t.Errorf("CheckLatLng(%v, %v): %v", c[0], c[1], err)
		}
	}
	for _, c := range []struct {
		lat, lng float64
		msg      string
	}{
		{200, 0, "invalid latitude 200"}, {-90.5, 0, "invalid latitude"}, {math.NaN(), 0, "invalid latitude NaN"},
		{0, 181, "invalid longitude 181"}, {0, math.Inf(-1), "invalid longitude"}, {math.Inf(1), 5, "invalid latitude"},
	} {
		if err := CheckLatLng(c.lat, c.lng); err == nil || !strings.Contains(err.Error(), c.msg) {
			t.Errorf("CheckLatLng(%v, %v) = %v, want %q", c.lat, c.lng, err, c.msg)
		}
	}
}

func TestRegionAtInvalid(t *testing.T) {
	for _, c := range [][2]float64{
		{math.NaN(), 0}, {0, math.NaN()}, {91, 0}, {-90.0001, 0},
		{math.Inf(1), 0}, {0, math.Inf(-1)},
	} {
		if r, ok := RegionAt(c[0], c[1]); ok || r != "" {
			t.Errorf("RegionAt(%v, %v) = %q, %v; want none", c[0], c[1], r, ok)
		}
	}
	// Longitudes wrap: Amsterdam ± 360°.
	for _, lng := range []float64{4.9041 + 360, 4.9041 - 720} {
		if r, ok := RegionAt(52.3676, lng); !ok || r != "EU868" {
			t.Errorf("RegionAt(Amsterdam, %v) = %q, %v", lng, r, ok)
		}
	}
}

// Every region named by the map exists, and every polygon is well formed.
func TestRegionMapData(t *testing.T) {
	mapped := map[string]bool{}
	for _, a := range regionMap {
		if a.name == "" {
			t.Errorf("area without a name: %+v", a)
		}
		if len(a.ring) < 3 {
			t.Errorf("%s: %d vertices", a.name, len(a.ring))
		}
		for _, p := range a.ring {
			if p.lat < -90 || p.lat > 90 || p.lng < -180 || p.lng > 180 {
				t.Errorf("%s: vertex %v out of range", a.name, p)
			}
		}
		for i := range a.ring {
			p, q := a.ring[i], a.ring[(i+1)%len(a.ring)]
			if math.Abs(p.lng-q.lng) > 180 {
				t.Errorf("%s: edge %v–%v crosses the antimeridian", a.name, p, q)
			}
		}
		if a.region == "" {
			continue
		}
		if _, err := LookupRegion(a.region); err != nil {
			t.Errorf("%s: %v", a.name, err)
		}
		mapped[a.region] = true
	}
	for _, want := range []string{"US915", "EU868", "AU915", "AS923-1", "AS923-2", "AS923-3", "AS923-4", "KR920", "IN865"} {
		if !mapped[want] {
			t.Errorf("region %s has no area", want)
		}
	}
}

func TestNormLng(t *testing.T) {
	for in, want := range map[float64]float64{0: 0, 180: -180, -180: -180, 190: -170, -190: 170, 540: -180, 359.5: -0.5} {
		if got := normLng(in); got != want {
			t.Errorf("normLng(%v) = %v, want %v", in, got, want)
		}
	}
}

// FuzzRegionAt: never panics, and a region it returns exists.
func FuzzRegionAt(f *testing.F) {
	f.Add(37.7749, -122.4194)
	f.Add(52.3676, 4.9041)
	f.Add(math.NaN(), math.Inf(1))
	f.Add(90.0, 1e308)
	f.Add(math.Copysign(0, -1), -180.0)
	f.Fuzz(func(t *testing.T, lat, lng float64) {
		r, ok := RegionAt(lat, lng)
		if ok != (r != "") {
			t.Fatalf("RegionAt(%v, %v) = %q, %v", lat, lng, r, ok)
		}
		if ok {
			if _, err := LookupRegion(r); err != nil {
				t.Fatalf("RegionAt(%v, %v) = unknown region %q", lat, lng, r)
			}
		}
	})
}

func BenchmarkRegionAt(b *testing.B) {
	pts := [][2]float64{{37.7749, -122.4194}, {52.3676, 4.9041}, {-33.8688, 151.2093}, {30, -40}, {19.076, 72.8777}}
	i := 0
	for b.Loop() {
		p := pts[i%len(pts)]
		RegionAt(p[0], p[1])
		i++
	}
}
