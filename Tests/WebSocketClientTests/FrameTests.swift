import Testing
@testable import WebSocketClient

@Suite struct FrameTests {
    private func decode(_ bytes: [UInt8], max: Int = 1 << 24) throws -> (frame: Frame, byteCount: Int)? {
        try Frame.decode(bytes[...], maxPayload: max)
    }

    // MARK: RFC 6455 §5.7 examples

    @Test func unmaskedTextHello() throws {
        let wire: [UInt8] = [0x81, 0x05, 0x48, 0x65, 0x6C, 0x6C, 0x6F]
        #expect(Frame(opcode: Opcode.text, payload: Array("Hello".utf8)).encoded() == wire)
        let decoded = try #require(try decode(wire))
        #expect(decoded.frame == Frame(opcode: Opcode.text, payload: Array("Hello".utf8)))
        #expect(decoded.byteCount == wire.count)
    }

    @Test func maskedTextHello() throws {
        let key: [UInt8] = [0x37, 0xFA, 0x21, 0x3D]
        let wire: [UInt8] = [0x81, 0x85, 0x37, 0xFA, 0x21, 0x3D, 0x7F, 0x9F, 0x4D, 0x51, 0x58]
        let frame = Frame(opcode: Opcode.text, payload: Array("Hello".utf8), maskingKey: key)
        #expect(frame.encoded() == wire)
        #expect(try decode(wire)?.frame == frame)
    }

    @Test func fragmentedHello() throws {
        let first: [UInt8] = [0x01, 0x03, 0x48, 0x65, 0x6C]
        let second: [UInt8] = [0x80, 0x02, 0x6C, 0x6F]
        #expect(try decode(first)?.frame == Frame(opcode: Opcode.text, payload: Array("Hel".utf8), fin: false))
        #expect(try decode(second)?.frame == Frame(opcode: Opcode.continuation, payload: Array("lo".utf8)))
    }

    @Test func pingHello() {
        #expect(Frame(opcode: Opcode.ping, payload: Array("Hello".utf8)).encoded() == [0x89, 0x05, 0x48, 0x65, 0x6C, 0x6C, 0x6F])
    }

    @Test func lengthEncodings() {
        #expect(Array(Frame(opcode: Opcode.binary, payload: [UInt8](repeating: 0, count: 125)).encoded().prefix(2)) == [0x82, 125])
        #expect(Array(Frame(opcode: Opcode.binary, payload: [UInt8](repeating: 0, count: 256)).encoded().prefix(4)) == [0x82, 0x7E, 0x01, 0x00])
        #expect(Array(Frame(opcode: Opcode.binary, payload: [UInt8](repeating: 0, count: 65535)).encoded().prefix(4)) == [0x82, 0x7E, 0xFF, 0xFF])
        #expect(Array(Frame(opcode: Opcode.binary, payload: [UInt8](repeating: 0, count: 65536)).encoded().prefix(10))
            == [0x82, 0x7F, 0, 0, 0, 0, 0, 0x01, 0x00, 0x00])
    }

    // MARK: Round trips

    @Test(arguments: [0, 1, 125, 126, 127, 65535, 65536, 100_000])
    func roundTrip(length: Int) throws {
        let payload = (0..<length).map { UInt8(truncatingIfNeeded: $0 &* 31) }
        for key in [nil, [0x01, 0x02, 0x03, 0x04] as [UInt8]] {
            for fin in [true, false] {
                let frame = Frame(opcode: Opcode.binary, payload: payload, fin: fin, rsv: 0b101, maskingKey: key)
                let wire = frame.encoded() + [0xEE]  // a trailing byte from the next frame must not be consumed
                let decoded = try #require(try decode(wire))
                #expect(decoded.frame == frame)
                #expect(decoded.byteCount == wire.count - 1)
            }
        }
    }

    @Test func everyPrefixIsIncomplete() throws {
        let wire = Frame(opcode: Opcode.text, payload: [UInt8](repeating: 0x41, count: 300), maskingKey: [9, 8, 7, 6]).encoded()
        for end in 0..<wire.count {
            #expect(try decode(Array(wire[..<end])) == nil)
        }
    }

    @Test func decodesFromASliceWithNonZeroStartIndex() throws {
        let wire = [0xAA, 0xBB] + Frame(opcode: Opcode.text, payload: Array("hi".utf8)).encoded()
        let decoded = try #require(try Frame.decode(wire[2...], maxPayload: 100))
        #expect(decoded.frame.payload == Array("hi".utf8))
        #expect(decoded.byteCount == 4)
    }

    @Test func oversizeIsRejectedFromTheHeaderAlone() {
        let header: [UInt8] = [0x82, 0x7F, 0, 0, 0, 0, 0x01, 0, 0, 0x01]  // 16 MiB + 1, no payload yet
        #expect(throws: FrameDecodeError.payloadTooLarge(16 * 1024 * 1024 + 1)) { try decode(header) }
        #expect(throws: FrameDecodeError.payloadTooLarge(126)) { try decode([0x82, 0x7E, 0, 126], max: 125) }
    }

    @Test func lengthWithHighBitIsRejected() {
        #expect(throws: FrameDecodeError.invalidLength) { try decode([0x82, 0x7F, 0x80, 0, 0, 0, 0, 0, 0, 1]) }
    }
}

@Suite struct URLPartsTests {
    @Test func parsesHostPortAndTarget() throws {
        let url = try URLParts("ws://127.0.0.1:8080/ws?token=abc#frag", scheme: "ws")
        #expect(url.host == "127.0.0.1")
        #expect(url.port == 8080)
        #expect(url.target == "/ws?token=abc")
        #expect(url.hostHeader == "127.0.0.1:8080")
    }

    @Test func defaultsPortAndPath() throws {
        let url = try URLParts("HTTP://localhost?x=1", scheme: "http")
        #expect(url.port == 80)
        #expect(url.target == "/?x=1")
        #expect(url.hostHeader == "localhost")
        #expect(try URLParts("http://example", scheme: "http").target == "/")
    }

    @Test(arguments: ["wss://h/", "http://h/", "ws://", "ws://h:0/", "ws://h:99999/", "ws://h:x/", "ws://u@h/", "ws://[::1]/", "h:80", "ws://h/a b"])
    func rejects(_ string: String) {
        #expect(throws: WebSocketClientError.self) { try URLParts(string, scheme: "ws") }
    }
}

@Suite struct UTF8ValidationTests {
    @Test func acceptsValidAndRejectsInvalid() {
        #expect(String(validatingUTF8Bytes: Array("héllo €𝄞".utf8)) == "héllo €𝄞")
        #expect(String(validatingUTF8Bytes: []) == "")
        for bad: [UInt8] in [[0xC3, 0x28], [0xC0, 0xAF], [0xED, 0xA0, 0x80], [0xF4, 0x90, 0x80, 0x80], [0xE2, 0x82], [0xFF]] {
            #expect(String(validatingUTF8Bytes: bad) == nil)
        }
    }
}
