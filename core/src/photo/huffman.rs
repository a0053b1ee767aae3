//! Lossless Huffman optimisation of a baseline JPEG, the way `jpegtran -optimize` does it.
//!
//! `jpeg-encoder` writes one interleaved scan with the JPEG standard's example Huffman tables
//! (Annex K.3). Its own "optimised tables" option switches to one scan per component, which
//! some decoders mis-render for 4:2:0 (the `image` crate's, see zune-image #422). So the photo
//! pipeline keeps the interleaved scan and rewrites only its entropy coding: the scan is
//! decoded to Huffman symbols and their raw extra bits, symbol frequencies give optimal
//! code lengths (limited to 16 bits, Annex K.2), and the same symbols are written again with
//! the new tables. Coefficients, quantisation and therefore every decoded pixel stay exactly
//! the same; only the bit stream gets shorter (about 5 % on camera photos at quality 80).
//!
//! The input is our own encoder's output, so anything unexpected (progressive or lossless
//! frames, restart intervals, several scans, arithmetic coding, damaged data) makes
//! [`optimize`] return `None` and the caller keeps the original bytes.

/// Rewrites `jpeg` with Huffman tables built for its own symbols, or `None` when the file is
/// not a single-scan baseline JPEG this function understands (the input is then still valid).
pub(crate) fn optimize(jpeg: &[u8]) -> Option<Vec<u8>> {
    let parsed = parse(jpeg)?;
    let symbols = decode_scan(&parsed)?;

    // Frequencies per table slot: DC tables 0..4, AC tables 4..8.
    let mut freq = [[0u64; 257]; 8];
    for s in &symbols {
        freq[usize::from(s.table)][usize::from(s.symbol)] += 1;
    }
    let mut tables: [Option<HuffmanSpec>; 8] = Default::default();
    for (slot, f) in freq.iter().enumerate() {
        if f.iter().any(|&n| n > 0) {
            tables[slot] = Some(optimal_table(f)?);
        }
    }
    let codes: Vec<Option<EncodeTable>> = tables
        .iter()
        .map(|t| t.as_ref().map(EncodeTable::new))
        .collect();

    let mut out = Vec::with_capacity(jpeg.len());
    out.extend_from_slice(&jpeg[..parsed.header_end]);
    // The old DHT segments were dropped from the header copy; one DHT with every new table.
    let mut dht = Vec::new();
    for (slot, table) in tables.iter().enumerate() {
        if let Some(t) = table {
            let class = if slot < 4 { 0u8 } else { 1u8 };
            dht.push((class << 4) | (slot % 4) as u8);
            dht.extend_from_slice(&t.counts);
            dht.extend_from_slice(&t.values);
        }
    }
    out.extend_from_slice(&[0xFF, 0xC4]);
    out.extend_from_slice(&u16::try_from(dht.len() + 2).ok()?.to_be_bytes());
    out.extend_from_slice(&dht);
    out.extend_from_slice(&parsed.sos);

    let mut writer = BitWriter::new(&mut out);
    for s in &symbols {
        let table = codes[usize::from(s.table)].as_ref()?;
        let (code, len) = table.code(s.symbol)?;
        let extra_len = u32::from(s.extra_len);
        writer.put(
            (u32::from(code) << extra_len) | u32::from(s.extra),
            u32::from(len) + extra_len,
        );
    }
    writer.finish();
    out.extend_from_slice(&[0xFF, 0xD9]);
    Some(out)
}

/// One coded symbol: which table, the symbol, and the raw bits that follow it.
struct Symbol {
    /// 0..4 for DC table N, 4..8 for AC table N-4.
    table: u8,
    symbol: u8,
    extra_len: u8,
    extra: u16,
}

/// A Huffman table as a DHT segment stores it.
#[derive(Clone)]
struct HuffmanSpec {
    /// Number of codes of each length 1..=16.
    counts: [u8; 16],
    /// Symbols in order of increasing code length.
    values: Vec<u8>,
}

struct Component {
    id: u8,
    h: usize,
    v: usize,
}

struct ScanComponent {
    /// Index into `Parsed::components`.
    index: usize,
    dc: usize,
    ac: usize,
}

struct Parsed<'a> {
    width: usize,
    height: usize,
    components: Vec<Component>,
    tables: [Option<HuffmanSpec>; 8],
    scan: Vec<ScanComponent>,
    /// The SOS segment, marker included, copied unchanged.
    sos: Vec<u8>,
    /// Header bytes to copy (SOI up to the SOS), DHT segments removed.
    header_end: usize,
    /// Entropy-coded data of the scan, byte stuffing still in place.
    data: &'a [u8],
}

/// Walks the markers of a baseline, single-scan JPEG. DHT segments are expected before the
/// SOS; the returned `header_end` ends before the first of them, and everything between the
/// first DHT and the SOS must be DHT too (true of `jpeg-encoder`'s output).
fn parse(jpeg: &[u8]) -> Option<Parsed<'_>> {
    if jpeg.get(..2)? != [0xFF, 0xD8] {
        return None;
    }
    let mut at = 2;
    let mut frame: Option<(usize, usize, Vec<Component>)> = None;
    let mut tables: [Option<HuffmanSpec>; 8] = Default::default();
    let mut first_dht = None;
    loop {
        if *jpeg.get(at)? != 0xFF {
            return None;
        }
        let marker = *jpeg.get(at + 1)?;
        let len = usize::from(u16::from_be_bytes([*jpeg.get(at + 2)?, *jpeg.get(at + 3)?]));
        if len < 2 {
            return None;
        }
        let body = jpeg.get(at + 4..at + 2 + len)?;
        if first_dht.is_some() && !matches!(marker, 0xC4 | 0xDA) {
            return None;
        }
        match marker {
            // Baseline frame.
            0xC0 => frame = Some(parse_frame(body)?),
            0xC4 => {
                first_dht.get_or_insert(at);
                parse_dht(body, &mut tables)?;
            }
            0xDA => {
                let (width, height, components) = frame?;
                let scan = parse_scan(body, &components)?;
                let data_start = at + 2 + len;
                let data_end = scan_end(jpeg, data_start)?;
                // Exactly one scan, then the end of the image.
                if jpeg.get(data_end..)? != [0xFF, 0xD9] {
                    return None;
                }
                return Some(Parsed {
                    width,
                    height,
                    components,
                    tables,
                    scan,
                    sos: jpeg.get(at..data_start)?.to_vec(),
                    header_end: first_dht?,
                    data: jpeg.get(data_start..data_end)?,
                });
            }
            // Other frame types (progressive, lossless, arithmetic) and restart intervals.
            0xC1..=0xCF | 0xDD => return None,
            // APPn, DQT, COM: copied unchanged.
            _ => {}
        }
        at += 2 + len;
    }
}

fn parse_frame(body: &[u8]) -> Option<(usize, usize, Vec<Component>)> {
    if *body.first()? != 8 {
        return None;
    }
    let height = usize::from(u16::from_be_bytes([*body.get(1)?, *body.get(2)?]));
    let width = usize::from(u16::from_be_bytes([*body.get(3)?, *body.get(4)?]));
    let count = usize::from(*body.get(5)?);
    if width == 0 || height == 0 || !(1..=4).contains(&count) {
        return None;
    }
    let mut components = Vec::with_capacity(count);
    for c in body.get(6..6 + 3 * count)?.chunks_exact(3) {
        let (h, v) = (usize::from(c[1] >> 4), usize::from(c[1] & 15));
        if !(1..=4).contains(&h) || !(1..=4).contains(&v) {
            return None;
        }
        components.push(Component { id: c[0], h, v });
    }
    Some((width, height, components))
}

fn parse_dht(mut body: &[u8], tables: &mut [Option<HuffmanSpec>; 8]) -> Option<()> {
    while !body.is_empty() {
        let class_id = *body.first()?;
        let (class, id) = (usize::from(class_id >> 4), usize::from(class_id & 15));
        if class > 1 || id > 3 {
            return None;
        }
        let counts: [u8; 16] = body.get(1..17)?.try_into().ok()?;
        let total: usize = counts.iter().map(|&c| usize::from(c)).sum();
        let values = body.get(17..17 + total)?.to_vec();
        tables[class * 4 + id] = Some(HuffmanSpec { counts, values });
        body = body.get(17 + total..)?;
    }
    Some(())
}

fn parse_scan(body: &[u8], components: &[Component]) -> Option<Vec<ScanComponent>> {
    let count = usize::from(*body.first()?);
    if count == 0 || count > components.len() {
        return None;
    }
    let mut scan = Vec::with_capacity(count);
    for c in body.get(1..1 + 2 * count)?.chunks_exact(2) {
        let index = components.iter().position(|k| k.id == c[0])?;
        let (dc, ac) = (usize::from(c[1] >> 4), usize::from(c[1] & 15));
        if dc > 3 || ac > 3 {
            return None;
        }
        scan.push(ScanComponent { index, dc, ac });
    }
    // Spectral selection 0..63, no successive approximation: a sequential scan with every
    // component of the frame.
    if body.get(1 + 2 * count..4 + 2 * count)? != [0, 63, 0] || count != components.len() {
        return None;
    }
    Some(scan)
}

/// The first marker after entropy-coded data (stuffed `FF 00` is data; restart markers are
/// refused because the frame declared no restart interval).
fn scan_end(jpeg: &[u8], start: usize) -> Option<usize> {
    let mut at = start;
    loop {
        let ff = at + jpeg.get(at..)?.iter().position(|&b| b == 0xFF)?;
        if *jpeg.get(ff + 1)? != 0x00 {
            return Some(ff);
        }
        at = ff + 2;
    }
}

/// Decodes every block of the scan into symbols (coefficient values are never needed).
fn decode_scan(p: &Parsed<'_>) -> Option<Vec<Symbol>> {
    let mut decoders: [Option<DecodeTable>; 8] = Default::default();
    for (slot, spec) in p.tables.iter().enumerate() {
        if let Some(spec) = spec {
            decoders[slot] = Some(DecodeTable::new(spec)?);
        }
    }
    let h_max = p.components.iter().map(|c| c.h).max()?;
    let v_max = p.components.iter().map(|c| c.v).max()?;
    // Interleaved: MCUs of h×v blocks per component. A single-component scan is
    // non-interleaved: one block per MCU over that component's own block grid.
    let (mcus, blocks_per_mcu): (usize, Vec<(usize, usize)>) = if p.scan.len() == 1 {
        let c = &p.components[p.scan[0].index];
        let w = (p.width * c.h).div_ceil(h_max).div_ceil(8);
        let h = (p.height * c.v).div_ceil(v_max).div_ceil(8);
        (w * h, vec![(0, 1)])
    } else {
        let mcus = p.width.div_ceil(8 * h_max) * p.height.div_ceil(8 * v_max);
        let per = p
            .scan
            .iter()
            .enumerate()
            .map(|(i, s)| (i, p.components[s.index].h * p.components[s.index].v))
            .collect();
        (mcus, per)
    };
    let mut reader = BitReader::new(p.data);
    // At q80 a symbol and its extra bits take about four bits; reserve for that.
    let blocks: usize = blocks_per_mcu.iter().map(|&(_, n)| n).sum::<usize>() * mcus;
    let mut symbols = Vec::with_capacity(blocks.saturating_mul(4).max(p.data.len() * 2));
    for _ in 0..mcus {
        for &(scan_index, count) in &blocks_per_mcu {
            let sc = &p.scan[scan_index];
            let dc = decoders[sc.dc].as_ref()?;
            let ac = decoders[4 + sc.ac].as_ref()?;
            for _ in 0..count {
                decode_block(
                    &mut reader,
                    dc,
                    ac,
                    sc.dc as u8,
                    4 + sc.ac as u8,
                    &mut symbols,
                )?;
            }
        }
    }
    // Only padding (at most 7 one-bits) may remain.
    reader.is_at_padding().then_some(symbols)
}

fn decode_block(
    reader: &mut BitReader<'_>,
    dc: &DecodeTable,
    ac: &DecodeTable,
    dc_slot: u8,
    ac_slot: u8,
    out: &mut Vec<Symbol>,
) -> Option<()> {
    let size = dc.decode(reader)?;
    if size > 11 {
        return None;
    }
    out.push(Symbol {
        table: dc_slot,
        symbol: size,
        extra_len: size,
        extra: reader.bits(size)?,
    });
    let mut k = 1;
    while k < 64 {
        let rs = ac.decode(reader)?;
        let (run, size) = (rs >> 4, rs & 15);
        if size == 0 && run != 15 {
            // End of block.
            out.push(Symbol {
                table: ac_slot,
                symbol: rs,
                extra_len: 0,
                extra: 0,
            });
            return Some(());
        }
        k += usize::from(run) + usize::from(size > 0);
        if size == 0 {
            // ZRL: sixteen zeros.
            k += 1;
        }
        if k > 64 || size > 10 {
            return None;
        }
        out.push(Symbol {
            table: ac_slot,
            symbol: rs,
            extra_len: size,
            extra: reader.bits(size)?,
        });
    }
    Some(())
}

/// Canonical Huffman decoding (T.81 F.2.2.3) with a 9-bit lookup for the common short codes.
struct DecodeTable {
    /// For each 9-bit prefix: (symbol, code length), length 0 when the code is longer.
    fast: Vec<(u8, u8)>,
    max_code: [i32; 17],
    val_offset: [i32; 17],
    values: Vec<u8>,
}

const FAST_BITS: u8 = 9;

impl DecodeTable {
    fn new(spec: &HuffmanSpec) -> Option<Self> {
        let mut fast = vec![(0u8, 0u8); 1 << FAST_BITS];
        let mut max_code = [-1i32; 17];
        let mut val_offset = [0i32; 17];
        let mut code = 0i32;
        let mut k = 0usize;
        for len in 1..=16u8 {
            let n = usize::from(spec.counts[usize::from(len - 1)]);
            val_offset[usize::from(len)] = k as i32 - code;
            for _ in 0..n {
                let value = *spec.values.get(k)?;
                if len <= FAST_BITS {
                    let shift = FAST_BITS - len;
                    let first = (code as usize) << shift;
                    for entry in fast.get_mut(first..first + (1 << shift))? {
                        *entry = (value, len);
                    }
                }
                code += 1;
                k += 1;
            }
            if n > 0 {
                max_code[usize::from(len)] = code - 1;
            }
            // A code space overflow means the table is invalid.
            if code > 1 << len {
                return None;
            }
            code <<= 1;
        }
        Some(Self {
            fast,
            max_code,
            val_offset,
            values: spec.values.clone(),
        })
    }

    fn decode(&self, reader: &mut BitReader<'_>) -> Option<u8> {
        let peek = reader.peek(u32::from(FAST_BITS));
        let (value, len) = self.fast[peek as usize];
        if len > 0 {
            reader.consume(u32::from(len))?;
            return Some(value);
        }
        let mut code = 0i32;
        for len in 1..=16usize {
            code = (code << 1) | i32::from(reader.bits(1)?);
            if code <= self.max_code[len] {
                let index = usize::try_from(code + self.val_offset[len]).ok()?;
                return self.values.get(index).copied();
            }
        }
        None
    }
}

/// Reads bits MSB first from entropy-coded data, removing the `FF 00` stuffing. The unread
/// bits sit at the top of `acc`.
struct BitReader<'a> {
    data: &'a [u8],
    at: usize,
    acc: u64,
    /// Unread bits in `acc`.
    count: u32,
}

impl<'a> BitReader<'a> {
    fn new(data: &'a [u8]) -> Self {
        Self {
            data,
            at: 0,
            acc: 0,
            count: 0,
        }
    }

    #[inline]
    fn fill(&mut self) {
        while self.count <= 56 {
            let Some(&byte) = self.data.get(self.at) else {
                return;
            };
            // `scan_end` guarantees that every FF inside the data is followed by 00.
            self.at += if byte == 0xFF { 2 } else { 1 };
            self.acc |= u64::from(byte) << (56 - self.count);
            self.count += 8;
        }
    }

    /// The next `n` (1..=16) bits without consuming them; zeros past the end of the data.
    #[inline]
    fn peek(&mut self, n: u32) -> u32 {
        if self.count < n {
            self.fill();
        }
        (self.acc >> (64 - n)) as u32
    }

    #[inline]
    fn consume(&mut self, n: u32) -> Option<()> {
        if self.count < n {
            self.fill();
            if self.count < n {
                return None;
            }
        }
        self.acc <<= n;
        self.count -= n;
        Some(())
    }

    #[inline]
    fn bits(&mut self, n: u8) -> Option<u16> {
        if n == 0 {
            return Some(0);
        }
        let value = self.peek(u32::from(n)) as u16;
        self.consume(u32::from(n))?;
        Some(value)
    }

    /// True when what is left is fewer than 8 bits, all ones (the encoder's padding).
    fn is_at_padding(&mut self) -> bool {
        self.fill();
        self.count < 8 && (self.count == 0 || self.peek(self.count) == (1 << self.count) - 1)
    }
}

/// Code lengths from frequencies, limited to 16 bits (T.81 K.2, as in libjpeg's
/// `jpeg_gen_optimal_table`). Slot 256 is a reserved pseudo-symbol so that no real code
/// consists of all one-bits.
fn optimal_table(freq: &[u64; 257]) -> Option<HuffmanSpec> {
    let mut freq = *freq;
    freq[256] = 1;
    let mut code_size = [0usize; 257];
    let mut others = [usize::MAX; 257];
    loop {
        // The two least frequent; on ties the higher index, which keeps results stable.
        let mut c1 = None;
        let mut c2 = None;
        for i in 0..257 {
            if freq[i] == 0 {
                continue;
            }
            if c1.is_none_or(|c: usize| freq[i] <= freq[c]) {
                c2 = c1;
                c1 = Some(i);
            } else if c2.is_none_or(|c: usize| freq[i] <= freq[c]) {
                c2 = Some(i);
            }
        }
        let (Some(mut a), Some(mut b)) = (c1, c2) else {
            break;
        };
        freq[a] += freq[b];
        freq[b] = 0;
        code_size[a] += 1;
        while others[a] != usize::MAX {
            a = others[a];
            code_size[a] += 1;
        }
        others[a] = b;
        code_size[b] += 1;
        while others[b] != usize::MAX {
            b = others[b];
            code_size[b] += 1;
        }
    }
    let max_len = *code_size.iter().max()?;
    let mut bits = vec![0u32; max_len.max(16) + 1];
    for &size in &code_size {
        if size > 0 {
            bits[size] += 1;
        }
    }
    // Move codes longer than 16 bits up the tree (K.2, Figure K.3).
    for i in (17..bits.len()).rev() {
        while bits[i] > 0 {
            let mut j = i - 2;
            while bits[j] == 0 {
                j -= 1;
            }
            bits[i] -= 2;
            bits[i - 1] += 1;
            bits[j + 1] += 2;
            bits[j] -= 1;
        }
    }
    // Drop the reserved symbol from the longest codes.
    let mut i = 16;
    while bits[i] == 0 {
        i -= 1;
    }
    bits[i] -= 1;

    let mut counts = [0u8; 16];
    for (len, count) in counts.iter_mut().enumerate() {
        *count = u8::try_from(bits[len + 1]).ok()?;
    }
    let mut values = Vec::new();
    for size in 1..=max_len {
        for (symbol, &s) in code_size.iter().enumerate().take(256) {
            if s == size {
                values.push(u8::try_from(symbol).ok()?);
            }
        }
    }
    Some(HuffmanSpec { counts, values })
}

/// Symbol → (code, length) for writing.
struct EncodeTable {
    codes: [(u16, u8); 256],
}

impl EncodeTable {
    fn new(spec: &HuffmanSpec) -> Self {
        let mut codes = [(0u16, 0u8); 256];
        let mut code = 0u16;
        let mut k = 0;
        for len in 1..=16u8 {
            for _ in 0..spec.counts[usize::from(len - 1)] {
                if let Some(&value) = spec.values.get(k) {
                    codes[usize::from(value)] = (code, len);
                }
                code = code.wrapping_add(1);
                k += 1;
            }
            code = code.wrapping_shl(1);
        }
        Self { codes }
    }

    fn code(&self, symbol: u8) -> Option<(u16, u8)> {
        let (code, len) = self.codes[usize::from(symbol)];
        (len > 0).then_some((code, len))
    }
}

/// Writes bits MSB first with `FF 00` stuffing; pads the last byte with one-bits.
struct BitWriter<'a> {
    out: &'a mut Vec<u8>,
    /// Pending bits, the oldest at bit `count - 1`.
    acc: u64,
    count: u32,
}

impl<'a> BitWriter<'a> {
    fn new(out: &'a mut Vec<u8>) -> Self {
        Self {
            out,
            acc: 0,
            count: 0,
        }
    }

    /// Appends the low `len` (≤ 32) bits of `value`.
    #[inline]
    fn put(&mut self, value: u32, len: u32) {
        self.acc = (self.acc << len) | u64::from(value) & ((1u64 << len) - 1);
        self.count += len;
        if self.count >= 32 {
            self.count -= 32;
            let word = (self.acc >> self.count) as u32;
            if word & 0x8080_8080 & !word.wrapping_add(0x0101_0101) == 0 {
                // No FF byte among the four (no byte overflows when one is added).
                self.out.extend_from_slice(&word.to_be_bytes());
            } else {
                for byte in word.to_be_bytes() {
                    self.out.push(byte);
                    if byte == 0xFF {
                        self.out.push(0x00);
                    }
                }
            }
        }
    }

    fn finish(mut self) {
        let pad = (8 - self.count % 8) % 8;
        self.put((1 << pad) - 1, pad);
        while self.count >= 8 {
            self.count -= 8;
            let byte = (self.acc >> self.count) as u8;
            self.out.push(byte);
            if byte == 0xFF {
                self.out.push(0x00);
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn encode(rgb: &[u8], w: u16, h: u16, color: jpeg_encoder::ColorType) -> Vec<u8> {
        let mut out = Vec::new();
        let mut encoder = jpeg_encoder::Encoder::new(&mut out, 80);
        encoder.set_sampling_factor(jpeg_encoder::SamplingFactor::R_4_2_0);
        encoder.encode(rgb, w, h, color).unwrap();
        out
    }

    /// Smooth gradients, hard edges and hashed noise: every kind of block.
    fn picture(w: usize, h: usize, channels: usize) -> Vec<u8> {
        let mut px = Vec::with_capacity(w * h * channels);
        for y in 0..h {
            for x in 0..w {
                for c in 0..channels {
                    let noise = ((x * 7919 + y * 104_729 + c * 31) % 251) as u8 / 8;
                    let edge = if (x / 13 + y / 9) % 2 == 0 { 60 } else { 0 };
                    px.push(
                        ((x * 255 / w.max(1)) as u8 / 2 + edge + noise).wrapping_add(c as u8 * 40),
                    );
                }
            }
        }
        px
    }

    fn pixels(jpeg: &[u8]) -> Vec<u8> {
        image::load_from_memory(jpeg).unwrap().into_bytes()
    }

    #[test]
    fn optimized_files_decode_to_the_same_pixels_and_are_smaller() {
        for (w, h) in [(1, 1), (7, 5), (17, 9), (64, 48), (333, 211), (640, 480)] {
            let rgb = picture(w, h, 3);
            let original = encode(&rgb, w as u16, h as u16, jpeg_encoder::ColorType::Rgb);
            let optimized = optimize(&original).unwrap();
            assert_eq!(pixels(&optimized), pixels(&original), "{w}×{h}");
            if w * h >= 64 * 48 {
                assert!(optimized.len() < original.len(), "{w}×{h}: no gain");
            }
            // Optimising again finds nothing more to gain and keeps the pixels.
            let again = optimize(&optimized).unwrap();
            assert_eq!(pixels(&again), pixels(&original));
            assert!(again.len() <= optimized.len() + 16);
        }
    }

    #[test]
    fn greyscale_files_are_optimized_too() {
        let grey = picture(200, 150, 1);
        let original = encode(&grey, 200, 150, jpeg_encoder::ColorType::Luma);
        let optimized = optimize(&original).unwrap();
        assert_eq!(pixels(&optimized), pixels(&original));
        assert!(optimized.len() < original.len());
    }

    #[test]
    fn anything_unexpected_is_declined_not_misread() {
        let rgb = picture(96, 64, 3);
        let original = encode(&rgb, 96, 64, jpeg_encoder::ColorType::Rgb);
        assert!(optimize(&[]).is_none());
        assert!(optimize(b"not a jpeg").is_none());
        // Truncated anywhere: declined (never a panic, never a shorter image).
        for cut in (0..original.len()).step_by(7) {
            assert!(optimize(&original[..cut]).is_none(), "cut at {cut}");
        }
        // Progressive files are left alone.
        let mut progressive = Vec::new();
        let mut encoder = jpeg_encoder::Encoder::new(&mut progressive, 80);
        encoder.set_progressive(true);
        encoder
            .encode(&rgb, 96, 64, jpeg_encoder::ColorType::Rgb)
            .unwrap();
        assert!(optimize(&progressive).is_none());
        // Flipped bytes: declined, or still a file that decodes like its input.
        for i in (2..original.len()).step_by(11) {
            let mut damaged = original.clone();
            damaged[i] ^= 0x5A;
            if let Some(out) = optimize(&damaged) {
                let before = image::load_from_memory(&damaged).map(|d| d.into_bytes());
                if let Ok(before) = before {
                    assert_eq!(pixels(&out), before, "flip at {i}");
                }
            }
        }
    }

    #[test]
    fn code_lengths_never_exceed_16_bits() {
        // Fibonacci frequencies make the deepest possible Huffman tree.
        let mut freq = [0u64; 257];
        let (mut a, mut b) = (1u64, 1u64);
        for f in freq.iter_mut().take(40) {
            *f = a;
            (a, b) = (b, a + b);
        }
        let spec = optimal_table(&freq).unwrap();
        assert_eq!(spec.values.len(), 40);
        let total: usize = spec.counts.iter().map(|&c| usize::from(c)).sum();
        assert_eq!(total, 40);
        // Kraft: the codes fit in the 16-bit code space, leaving the all-ones code unused.
        let kraft: u64 = spec
            .counts
            .iter()
            .enumerate()
            .map(|(i, &c)| u64::from(c) << (15 - i))
            .sum();
        assert!(kraft < 1 << 16);
        // And a decoder accepts it.
        assert!(DecodeTable::new(&spec).is_some());
    }
}
