package semtech_test

import (
	"context"
	"encoding/hex"
	"fmt"
	"log"
	"net"
	"time"

	"github.com/hexfield/hexfield/radio/semtech"
)

func ExampleDecode() {
	header, _ := hex.DecodeString("021A2B00B827EBFFFE123456")
	datagram := append(header, `{"rxpk":[{"tmst":3512348611,"freq":868.500000,"stat":1,"modu":"LORA","datr":"SF7BW125","codr":"4/5","rssi":-57,"lsnr":9.5,"size":17,"data":"QNobASYAAQABYWJjZKGyw9Q="}]}`...)
	p, err := semtech.Decode(datagram)
	if err != nil {
		log.Fatal(err)
	}
	push := p.(*semtech.PushData)
	r := push.RXPK[0]
	dr, _ := r.DatR.DataRate()
	fmt.Println(push.EUI, r.Freq, dr, r.SignalRSSI(), len(r.Data))
	ack, _ := (&semtech.PushAck{Version: push.Version, Token: push.Token}).MarshalBinary()
	fmt.Printf("% X\n", ack)
	// Output:
	// b827ebfffe123456 868500000 SF7BW125 -57 17
	// 02 1A 2B 01
}

type printUplinks chan struct{}

func (p printUplinks) HandleUplink(_ context.Context, u semtech.Uplink) {
	fmt.Println("uplink from", u.EUI, "at", u.RXPK.Freq, "Hz,", u.DataRate)
	p <- struct{}{}
}

type acceptAll struct{}

func (acceptAll) HandleDownlink(context.Context, semtech.TXPK) semtech.TxStatus {
	return semtech.TxStatus{}
}

// A hotspot's server and a forwarder's client on loopback: one uplink, one
// downlink with its TX_ACK.
func ExampleServer() {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	srvConn, _ := net.ListenPacket("udp", "127.0.0.1:0") // production: semtech.DefaultListenAddr
	uplinks := make(printUplinks, 1)
	srv, _ := semtech.NewServer(semtech.ServerConfig{Handler: uplinks}, srvConn, nil, nil)
	go srv.Run(ctx)

	up, _ := net.ListenPacket("udp", "127.0.0.1:0")
	down, _ := net.ListenPacket("udp", "127.0.0.1:0")
	eui, _ := semtech.ParseEUI("B827EBFFFE123456")
	fwd, _ := semtech.NewClient(semtech.ClientConfig{EUI: eui, Handler: acceptAll{}, PushTimeout: time.Second}, up, down, srv.Addr(), nil, nil)
	go fwd.Run(ctx)

	err := fwd.Push(ctx, []semtech.RXPK{{Freq: 868_100_000, Stat: 1, Modu: "LORA", DatR: semtech.DatR{LoRa: "SF9BW125"}, CodR: "4/5", Data: []byte{0x40}}}, nil)
	if err != nil {
		log.Fatal(err)
	}
	<-uplinks
	for gw, ok := srv.Gateway(eui); !ok || !gw.Online; gw, ok = srv.Gateway(eui) {
		time.Sleep(10 * time.Millisecond)
	}
	res, err := srv.Send(ctx, eui, semtech.TXPK{Imme: true, Freq: 869_525_000, Powe: 14, Modu: "LORA", DatR: semtech.DatR{LoRa: "SF9BW125"}, CodR: "4/5", IPol: true, Data: []byte{0x60}})
	fmt.Println(res.Accepted(), res.PowerDBm, err)
	// Output:
	// uplink from b827ebfffe123456 at 868100000 Hz, SF9BW125
	// true 14 <nil>
}
