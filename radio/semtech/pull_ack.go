package semtech

// PullAck acknowledges a PULL_DATA (0x04): the 4-byte header with the
// PULL_DATA's version and token.
type PullAck struct {
	// Version is 1 or 2; 0 marshals as 2.
	Version uint8
	Token   Token
}

// MessageType returns TypePullAck.
func (*PullAck) MessageType() MessageType { return TypePullAck }

// MarshalBinary implements encoding.BinaryMarshaler.
func (p *PullAck) MarshalBinary() ([]byte, error) {
	return appendHeader(make([]byte, 0, 4), p.Version, p.Token, TypePullAck)
}

// UnmarshalBinary decodes exactly 4 bytes.
func (p *PullAck) UnmarshalBinary(b []byte) error {
	h, err := parseHeaderOf(b, TypePullAck)
	if err != nil {
		return err
	}
	*p = PullAck{Version: h.Version, Token: h.Token}
	return nil
}
