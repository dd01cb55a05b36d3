//! `stream-format=byte-stream` input: each buffer is one Annex-B access unit
//! (`alignment=au`); it becomes a length-prefixed sample, and the in-band
//! parameter sets become the `avcC`/`hvcC` record (built by the producer's
//! [`crate::annexb`] functions, the same the binary uses).

use crate::annexb::{
    Codec, HevcSps, NAL_LENGTH_SIZE, Sps, avc_decoder_configuration_record,
    hevc_decoder_configuration_record,
};
use crate::media::{CODEC_ID_H264, CODEC_ID_H265, TrackInfo};
use bytes::{BufMut, BytesMut};

use super::input::{MediaError, VIDEO_TRACK};

/// Parameter-set kinds.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Param {
    Vps,
    Sps,
    Pps,
}

fn param_of(codec: Codec, nal: &[u8]) -> Option<Param> {
    let first = *nal.first()?;
    match codec {
        // H.264 Table 7-1: 7 SPS, 8 PPS.
        Codec::H264 => match first & 0x1f {
            7 => Some(Param::Sps),
            8 => Some(Param::Pps),
            _ => None,
        },
        // H.265 Table 7-1: 32 VPS, 33 SPS, 34 PPS.
        Codec::H265 => match (first >> 1) & 0x3f {
            32 => Some(Param::Vps),
            33 => Some(Param::Sps),
            34 => Some(Param::Pps),
            _ => None,
        },
    }
}

/// The NAL units of an Annex-B access unit (without start codes; the zero
/// bytes before a 4-byte start code are not part of the previous unit).
pub fn split_nals(data: &[u8]) -> Vec<&[u8]> {
    let mut starts = Vec::new();
    let mut i = 0;
    while i + 3 <= data.len() {
        if data[i] == 0 && data[i + 1] == 0 && data[i + 2] == 1 {
            starts.push((i, i + 3));
            i += 3;
        } else {
            i += 1;
        }
    }
    let mut nals = Vec::with_capacity(starts.len());
    for (k, &(_, begin)) in starts.iter().enumerate() {
        let end = starts.get(k + 1).map_or(data.len(), |&(sc, _)| sc);
        let mut nal = &data[begin..end];
        while let [rest @ .., 0] = nal {
            nal = rest;
        }
        if !nal.is_empty() {
            nals.push(nal);
        }
    }
    nals
}

/// Converts byte-stream access units; remembers the parameter sets.
#[derive(Debug)]
pub struct ByteStream {
    codec: Codec,
    track: Option<TrackInfo>,
}

impl ByteStream {
    /// A converter for `codec`.
    pub fn new(codec: Codec) -> Self {
        Self { codec, track: None }
    }

    /// The track as of the last access unit with parameter sets.
    pub fn track(&self) -> Option<&TrackInfo> {
        self.track.as_ref()
    }

    /// The access unit as a length-prefixed sample; updates [`Self::track`]
    /// when the unit carries a (new) complete set of parameter sets.
    pub fn convert(&mut self, au: &[u8]) -> Result<BytesMut, MediaError> {
        let nals = split_nals(au);
        if nals.is_empty() {
            return Err(MediaError::Syntax(
                "a byte-stream buffer holds no NAL unit (no 00 00 01 start code)".into(),
            ));
        }
        let of = |p| -> Vec<&[u8]> {
            nals.iter()
                .copied()
                .filter(|n| param_of(self.codec, n) == Some(p))
                .collect()
        };
        let (vps, sps, pps) = (of(Param::Vps), of(Param::Sps), of(Param::Pps));
        let complete =
            !sps.is_empty() && !pps.is_empty() && (self.codec == Codec::H264 || !vps.is_empty());
        if complete {
            let track = self.build_track(&vps, &sps, &pps)?;
            self.track = Some(track);
        }
        let mut out = BytesMut::with_capacity(au.len() + nals.len() * NAL_LENGTH_SIZE);
        for nal in nals {
            let len = u32::try_from(nal.len())
                .map_err(|_| MediaError::Syntax("a NAL unit over 4 GiB".into()))?;
            out.put_u32(len);
            out.put_slice(nal);
        }
        Ok(out)
    }

    fn build_track(
        &self,
        vps: &[&[u8]],
        sps: &[&[u8]],
        pps: &[&[u8]],
    ) -> Result<TrackInfo, MediaError> {
        let syntax = |e: crate::annexb::AnnexBError| MediaError::Syntax(e.to_string());
        let (codec_id, record, size) = match self.codec {
            Codec::H264 => {
                let first = Sps::parse(sps[0]).map_err(syntax)?;
                let record = avc_decoder_configuration_record(&first, sps, pps).map_err(syntax)?;
                (CODEC_ID_H264, record, (first.width, first.height))
            }
            Codec::H265 => {
                let first = HevcSps::parse(sps[0]).map_err(syntax)?;
                let record =
                    hevc_decoder_configuration_record(&first, vps, sps, pps).map_err(syntax)?;
                (CODEC_ID_H265, record, (first.width, first.height))
            }
        };
        Ok(TrackInfo {
            number: VIDEO_TRACK,
            codec_id: codec_id.to_owned(),
            codec_private: record,
            video: Some(size),
            audio: None,
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn nals_are_split_at_three_and_four_byte_start_codes() {
        let au = [
            0, 0, 0, 1, 9, 0xf0, 0, 0, 1, 0x65, 1, 2, 0, 0, 0, 1, 0x41, 3,
        ];
        assert_eq!(
            split_nals(&au),
            [&[9, 0xf0][..], &[0x65, 1, 2][..], &[0x41, 3][..]]
        );
    }

    #[test]
    fn samples_are_length_prefixed_and_need_parameter_sets_for_a_track() {
        let mut bs = ByteStream::new(Codec::H264);
        let sample = bs.convert(&[0, 0, 1, 0x41, 7, 7]).unwrap();
        assert_eq!(&sample[..], [0, 0, 0, 3, 0x41, 7, 7]);
        assert!(bs.track().is_none());
        assert!(bs.convert(&[1, 2, 3]).is_err());
    }
}
