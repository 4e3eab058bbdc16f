package radio

// DBm is a power level in decibel-milliwatts.
type DBm float64

// DBi is an antenna gain in decibels relative to an isotropic radiator.
type DBi float64

// DB is a ratio in decibels (path loss, SNR, noise figure).
type DB float64

// Hz is a frequency in hertz. Frequencies are stored as integers.
type Hz uint64

// Meters is a distance in metres.
type Meters float64

// MHz returns f in megahertz, for display and the Semtech JSON.
func (f Hz) MHz() float64 { return float64(f) / 1e6 }
