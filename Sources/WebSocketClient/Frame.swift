/// WebSocket opcodes (RFC 6455 §5.2).
package enum Opcode {
    package static let continuation: UInt8 = 0x0
    package static let text: UInt8 = 0x1
    package static let binary: UInt8 = 0x2
    package static let close: UInt8 = 0x8
    package static let ping: UInt8 = 0x9
    package static let pong: UInt8 = 0xA

    package static func isControl(_ opcode: UInt8) -> Bool { opcode & 0x8 != 0 }
}

package enum FrameDecodeError: Error, Equatable {
    case payloadTooLarge(UInt64)
    /// A 64-bit length with the most significant bit set.
    case invalidLength
}

/// One WebSocket frame. `payload` is always the unmasked application data;
/// `maskingKey` says whether (and how) it is masked on the wire.
package struct Frame: Equatable, Sendable {
    package var fin: Bool
    /// The three RSV bits, 0...7.
    package var rsv: UInt8
    package var opcode: UInt8
    package var payload: [UInt8]
    package var maskingKey: [UInt8]?

    package init(opcode: UInt8, payload: [UInt8], fin: Bool = true, rsv: UInt8 = 0, maskingKey: [UInt8]? = nil) {
        precondition(maskingKey == nil || maskingKey!.count == 4, "masking key must be 4 bytes")
        self.fin = fin
        self.rsv = rsv
        self.opcode = opcode
        self.payload = payload
        self.maskingKey = maskingKey
    }

    /// Wire bytes, using the shortest payload length encoding.
    package func encoded() -> [UInt8] {
        var out = [UInt8]()
        out.reserveCapacity(payload.count + 14)
        out.append((fin ? 0x80 : 0) | (rsv & 0x7) << 4 | (opcode & 0xF))
        let maskBit: UInt8 = maskingKey == nil ? 0 : 0x80
        let length = payload.count
        if length < 126 {
            out.append(maskBit | UInt8(length))
        } else if length <= 0xFFFF {
            out.append(maskBit | 126)
            out.append(UInt8(length >> 8))
            out.append(UInt8(length & 0xFF))
        } else {
            out.append(maskBit | 127)
            for shift in stride(from: 56, through: 0, by: -8) {
                out.append(UInt8(truncatingIfNeeded: UInt64(length) >> UInt64(shift)))
            }
        }
        guard let key = maskingKey else {
            out.append(contentsOf: payload)
            return out
        }
        out.append(contentsOf: key)
        let start = out.count
        out.append(contentsOf: payload)
        out.withUnsafeMutableBufferPointer { buffer in
            for i in 0..<length { buffer[start + i] ^= key[i & 3] }
        }
        return out
    }

    /// Parses one frame from the front of `bytes`, unmasking its payload.
    /// Returns nil when `bytes` does not yet hold a whole frame; the length
    /// limit is checked from the header alone so an oversize frame is rejected
    /// before it is buffered.
    package static func decode(
        _ bytes: ArraySlice<UInt8>, maxPayload: Int
    ) throws(FrameDecodeError) -> (frame: Frame, byteCount: Int)? {
        let s = bytes.startIndex
        guard bytes.count >= 2 else { return nil }
        let b0 = bytes[s], b1 = bytes[s + 1]

        var length = UInt64(b1 & 0x7F)
        var offset = 2
        if length == 126 {
            guard bytes.count >= 4 else { return nil }
            length = UInt64(bytes[s + 2]) << 8 | UInt64(bytes[s + 3])
            offset = 4
        } else if length == 127 {
            guard bytes.count >= 10 else { return nil }
            length = (2..<10).reduce(0) { $0 << 8 | UInt64(bytes[s + $1]) }
            guard length >> 63 == 0 else { throw .invalidLength }
            offset = 10
        }
        guard length <= UInt64(max(maxPayload, 0)) else { throw .payloadTooLarge(length) }

        var key: [UInt8]?
        if b1 & 0x80 != 0 {
            guard bytes.count >= offset + 4 else { return nil }
            key = Array(bytes[(s + offset)..<(s + offset + 4)])
            offset += 4
        }
        let total = offset + Int(length)
        guard bytes.count >= total else { return nil }

        var payload = Array(bytes[(s + offset)..<(s + total)])
        if let key {
            payload.withUnsafeMutableBufferPointer { buffer in
                for i in 0..<buffer.count { buffer[i] ^= key[i & 3] }
            }
        }
        let frame = Frame(opcode: b0 & 0xF, payload: payload, fin: b0 & 0x80 != 0, rsv: (b0 >> 4) & 0x7, maskingKey: key)
        return (frame, total)
    }
}
