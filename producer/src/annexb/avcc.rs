//! The `avcC` AVCDecoderConfigurationRecord (ISO/IEC 14496-15 §5.3.3.1), which
//! Matroska `V_MPEG4/ISO/AVC` stores as CodecPrivate, and the AVCC sample format.

use super::AnnexBError;
use super::sps::Sps;

/// `lengthSizeMinusOne` we write: 4-byte NAL length prefixes, what the KVS
/// producer SDK and ffmpeg use, and the only size that fits any NAL unit.
pub const NAL_LENGTH_SIZE: usize = 4;

/// Builds `avcC` from parameter sets (each a whole NAL unit including its
/// header byte). `sps` describes the first SPS and supplies profile and level.
pub fn avc_decoder_configuration_record(
    sps: &Sps,
    sps_nals: &[&[u8]],
    pps_nals: &[&[u8]],
) -> Result<Vec<u8>, AnnexBError> {
    // numOfSequenceParameterSets is 5 bits, numOfPictureParameterSets 8 bits,
    // and each set's length a u16 (§5.3.3.1.2).
    if sps_nals.is_empty() || sps_nals.len() > 31 || pps_nals.is_empty() || pps_nals.len() > 255 {
        return Err(AnnexBError::Syntax {
            what: "avcC",
            reason: format!(
                "{} SPS and {} PPS cannot be stored (1..=31 SPS, 1..=255 PPS)",
                sps_nals.len(),
                pps_nals.len()
            ),
        });
    }
    let too_long = sps_nals
        .iter()
        .chain(pps_nals)
        .find(|n| n.len() > usize::from(u16::MAX));
    if let Some(n) = too_long {
        return Err(AnnexBError::Syntax {
            what: "avcC",
            reason: format!(
                "a {}-byte parameter set does not fit a 16-bit length",
                n.len()
            ),
        });
    }
    let mut out = vec![
        1, // configurationVersion
        sps.profile_idc,
        sps.constraint_flags,
        sps.level_idc,
        0xFC | (NAL_LENGTH_SIZE as u8 - 1),
        0xE0 | sps_nals.len() as u8,
    ];
    for nal in sps_nals {
        out.extend_from_slice(&(nal.len() as u16).to_be_bytes());
        out.extend_from_slice(nal);
    }
    out.push(pps_nals.len() as u8);
    for nal in pps_nals {
        out.extend_from_slice(&(nal.len() as u16).to_be_bytes());
        out.extend_from_slice(nal);
    }
    // §5.3.3.1.2: the chroma/bit-depth extension follows for the High profiles
    // that can signal them (144 was withdrawn from H.264 and replaced by 244).
    if matches!(sps.profile_idc, 100 | 110 | 122 | 144 | 244) {
        out.push(0xFC | sps.chroma_format_idc as u8);
        out.push(0xF8 | sps.bit_depth_luma_minus8 as u8);
        out.push(0xF8 | sps.bit_depth_chroma_minus8 as u8);
        out.push(0); // numOfSequenceParameterSetExt
    }
    Ok(out)
}

/// Appends NAL units to `out` as a length-prefixed sample (AVCC for H.264,
/// the same layout for H.265): each NAL unit prefixed with its length as a
/// big-endian `u32`. Callers bound NAL sizes (`MAX_ACCESS_UNIT_BYTES`), so a
/// length always fits.
pub(crate) fn write_avcc_sample<'a>(
    out: &mut impl bytes::BufMut,
    nals: impl IntoIterator<Item = &'a [u8]>,
) {
    for nal in nals {
        out.put_u32(u32::try_from(nal.len()).expect("NAL units are bounded far below 4 GiB"));
        out.put_slice(nal);
    }
}
