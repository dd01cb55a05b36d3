//! H.265 parameter-set parsing (H.265 §7.3.2.2, §7.3.3) and the `hvcC`
//! HEVCDecoderConfigurationRecord (ISO/IEC 14496-15 §8.3.3.1) that Matroska
//! `V_MPEGH/ISO/HEVC` stores as CodecPrivate.

use super::AnnexBError;
use super::avcc::NAL_LENGTH_SIZE;
use super::bits::{BitReader, rbsp};

/// See `sps::SPS_PARSE_LIMIT`: the fields we need sit in the first bytes.
const SPS_PARSE_LIMIT: usize = 4096;

/// H.265 NAL unit types used by the reader (H.265 Table 7-1).
pub(crate) mod nal_type {
    /// First IRAP type (BLA_W_LP); IRAP = 16..=23.
    pub const IRAP_FIRST: u8 = 16;
    /// Last IRAP type (RSV_IRAP_VCL23).
    pub const IRAP_LAST: u8 = 23;
    /// Video parameter set.
    pub const VPS: u8 = 32;
    /// Sequence parameter set.
    pub const SPS: u8 = 33;
    /// Picture parameter set.
    pub const PPS: u8 = 34;
    /// Access unit delimiter.
    pub const AUD: u8 = 35;
    /// Prefix SEI.
    pub const PREFIX_SEI: u8 = 39;
}

/// The parts of an H.265 SPS the producer needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HevcSps {
    /// `sps_seq_parameter_set_id`.
    pub id: u32,
    /// `sps_max_sub_layers_minus1 + 1`.
    pub max_sub_layers: u8,
    /// `sps_temporal_id_nesting_flag`.
    pub temporal_id_nesting: bool,
    /// The 12 bytes of `general_profile_space` … `general_level_idc`, verbatim
    /// (exactly what `hvcC` bytes 1..=12 hold).
    pub general_ptl: [u8; 12],
    /// `chroma_format_idc`.
    pub chroma_format_idc: u32,
    /// `bit_depth_luma_minus8`.
    pub bit_depth_luma_minus8: u32,
    /// `bit_depth_chroma_minus8`.
    pub bit_depth_chroma_minus8: u32,
    /// Displayed width after the conformance window.
    pub width: u32,
    /// Displayed height after the conformance window.
    pub height: u32,
}

fn syntax(reason: String) -> AnnexBError {
    AnnexBError::Syntax {
        what: "H.265 SPS",
        reason,
    }
}

impl HevcSps {
    /// Parses an SPS NAL unit (including its two-byte NAL header).
    pub fn parse(nal: &[u8]) -> Result<Self, AnnexBError> {
        let data = rbsp(nal, SPS_PARSE_LIMIT);
        if data.len() < 2 + 1 + 12 {
            return Err(syntax(format!("{} bytes is too short", data.len())));
        }
        let mut r = BitReader::new(&data[2..], "H.265 SPS");
        let _vps_id = r.bits(4)?;
        let max_sub_layers_minus1 = r.bits(3)?;
        if max_sub_layers_minus1 > 6 {
            return Err(syntax(format!(
                "sps_max_sub_layers_minus1 = {max_sub_layers_minus1} exceeds 6"
            )));
        }
        let temporal_id_nesting = r.bit()?;
        // profile_tier_level(1, max_sub_layers_minus1), §7.3.3: the general part
        // is 96 bits starting on a byte boundary (data[3..15]).
        let mut general_ptl = [0u8; 12];
        general_ptl.copy_from_slice(&data[3..15]);
        for _ in 0..12 {
            r.bits(8)?;
        }
        let mut present = Vec::with_capacity(max_sub_layers_minus1 as usize);
        for _ in 0..max_sub_layers_minus1 {
            present.push((r.bit()?, r.bit()?));
        }
        if max_sub_layers_minus1 > 0 {
            for _ in max_sub_layers_minus1..8 {
                r.bits(2)?;
            }
        }
        for (profile, level) in present {
            if profile {
                for _ in 0..11 {
                    r.bits(8)?;
                }
            }
            if level {
                r.bits(8)?;
            }
        }
        let id = r.ue_max("sps_seq_parameter_set_id", 15)?;
        let chroma_format_idc = r.ue_max("chroma_format_idc", 3)?;
        let separate_colour_plane = chroma_format_idc == 3 && r.bit()?;
        // Level 6.2 allows 8192×4320; 16888 is the spec's maximum dimension.
        let full_w = r.ue_max("pic_width_in_luma_samples", 16888)?;
        let full_h = r.ue_max("pic_height_in_luma_samples", 16888)?;
        let window = if r.bit()? {
            [r.ue()?, r.ue()?, r.ue()?, r.ue()?]
        } else {
            [0; 4]
        };
        let bit_depth_luma_minus8 = r.ue_max("bit_depth_luma_minus8", 8)?;
        let bit_depth_chroma_minus8 = r.ue_max("bit_depth_chroma_minus8", 8)?;
        // §6.2 Table 6-1 and equations 7-x: offsets count in chroma samples.
        let chroma_array_type = if separate_colour_plane {
            0
        } else {
            chroma_format_idc
        };
        let (sub_w, sub_h): (u64, u64) = match chroma_array_type {
            1 => (2, 2),
            2 => (2, 1),
            _ => (1, 1),
        };
        let crop_w = (u64::from(window[0]) + u64::from(window[1])) * sub_w;
        let crop_h = (u64::from(window[2]) + u64::from(window[3])) * sub_h;
        if full_w == 0 || full_h == 0 || crop_w >= u64::from(full_w) || crop_h >= u64::from(full_h)
        {
            return Err(syntax(format!(
                "conformance window ({crop_w}×{crop_h}) leaves nothing of {full_w}×{full_h}"
            )));
        }
        Ok(Self {
            id,
            max_sub_layers: max_sub_layers_minus1 as u8 + 1,
            temporal_id_nesting,
            general_ptl,
            chroma_format_idc,
            bit_depth_luma_minus8,
            bit_depth_chroma_minus8,
            width: full_w - crop_w as u32,
            height: full_h - crop_h as u32,
        })
    }
}

/// Builds `hvcC` from VPS, SPS and PPS NAL units (each with its 2-byte header).
///
/// `min_spatial_segmentation_idc`, `parallelismType`, `avgFrameRate` and
/// `constantFrameRate` are written as 0 ("unknown"), which the format allows
/// and what ffmpeg writes for streams whose VUI does not restrict segmentation.
pub fn hevc_decoder_configuration_record(
    sps: &HevcSps,
    vps_nals: &[&[u8]],
    sps_nals: &[&[u8]],
    pps_nals: &[&[u8]],
) -> Result<Vec<u8>, AnnexBError> {
    let mut out = Vec::with_capacity(64);
    out.push(1); // configurationVersion
    out.extend_from_slice(&sps.general_ptl);
    out.extend_from_slice(&[0xF0, 0x00]); // reserved 1111 + min_spatial_segmentation_idc 0
    out.push(0xFC); // reserved 111111 + parallelismType 0
    out.push(0xFC | sps.chroma_format_idc as u8);
    out.push(0xF8 | sps.bit_depth_luma_minus8 as u8);
    out.push(0xF8 | sps.bit_depth_chroma_minus8 as u8);
    out.extend_from_slice(&[0, 0]); // avgFrameRate
    out.push(
        (sps.max_sub_layers << 3)
            | (u8::from(sps.temporal_id_nesting) << 2)
            | (NAL_LENGTH_SIZE as u8 - 1),
    );
    out.push(3); // numOfArrays
    for (kind, nals) in [
        (nal_type::VPS, vps_nals),
        (nal_type::SPS, sps_nals),
        (nal_type::PPS, pps_nals),
    ] {
        if nals.is_empty() || nals.len() > usize::from(u16::MAX) {
            return Err(AnnexBError::Syntax {
                what: "hvcC",
                reason: format!("{} parameter sets of type {kind}", nals.len()),
            });
        }
        // array_completeness = 0: frames carry their parameter sets in-band
        // too (an `hev1`-style stream; ffmpeg's Matroska muxer writes 0 as well).
        out.push(kind);
        out.extend_from_slice(&(nals.len() as u16).to_be_bytes());
        for nal in nals {
            let len = u16::try_from(nal.len()).map_err(|_| AnnexBError::Syntax {
                what: "hvcC",
                reason: format!(
                    "a {}-byte parameter set does not fit a 16-bit length",
                    nal.len()
                ),
            })?;
            out.extend_from_slice(&len.to_be_bytes());
            out.extend_from_slice(nal);
        }
    }
    Ok(out)
}
