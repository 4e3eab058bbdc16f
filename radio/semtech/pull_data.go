package semtech

// PullData is the forwarder's keepalive (0x02): header and EUI, 12 bytes. Its
// source address is where downlinks for that gateway must be sent.
type PullData struct {
	// Version is 1 or 2; 0 marshals as 2.
	Version uint8
	Token   Token
	EUI     EUI
}

// MessageType returns TypePullData.
func (*PullData) MessageType() MessageType { return TypePullData }

// MarshalBinary implements encoding.BinaryMarshaler.
func (p *PullData) MarshalBinary() ([]byte, error) {
	b, err := appendHeader(make([]byte, 0, 12), p.Version, p.Token, TypePullData)
	if err != nil {
		return nil, err
	}
	return append(b, p.EUI[:]...), nil
}

// UnmarshalBinary decodes exactly 12 bytes.
func (p *PullData) UnmarshalBinary(b []byte) error {
	h, err := parseHeaderOf(b, TypePullData)
	if err != nil {
		return err
	}
	*p = PullData{Version: h.Version, Token: h.Token, EUI: h.EUI}
	return nil
}
