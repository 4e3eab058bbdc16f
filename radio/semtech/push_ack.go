package semtech

// PushAck acknowledges a PUSH_DATA (0x01): the 4-byte header with the
// PUSH_DATA's version and token.
type PushAck struct {
	// Version is 1 or 2; 0 marshals as 2.
	Version uint8
	Token   Token
}

// MessageType returns TypePushAck.
func (*PushAck) MessageType() MessageType { return TypePushAck }

// MarshalBinary implements encoding.BinaryMarshaler.
func (p *PushAck) MarshalBinary() ([]byte, error) {
	return appendHeader(make([]byte, 0, 4), p.Version, p.Token, TypePushAck)
}

// UnmarshalBinary decodes exactly 4 bytes.
func (p *PushAck) UnmarshalBinary(b []byte) error {
	h, err := parseHeaderOf(b, TypePushAck)
	if err != nil {
		return err
	}
	*p = PushAck{Version: h.Version, Token: h.Token}
	return nil
}
